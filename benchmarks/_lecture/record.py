"""Record JupyterLab 4's own start-up requests once, from Chromium, on a real coursehub.

    .venv/bin/python benchmarks/_lecture/record.py [--out PATH] [--keep-raw PATH]

Starts a coursehub site (the lecture's course, built, one student, per-user subdomains),
then Debian's Chromium, driven by Playwright, clicks the course link while signed out,
signs in, waits for the notebook, runs its first cell and waits for the result. Every
HTTP request (with its start and end), every websocket and every kernel message is
recorded, then templated (user, server, kernel and session ids, xsrf, notebook path,
cache-busting timestamps) and written to ``benchmarks/recordings/`` for the lecture's
replay client. Needs root (real Unix accounts).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _lecture import course, sites  # noqa: E402
from _lecture.recording import summary, template_recording  # noqa: E402
from _lecture.wire import decode_frame  # noqa: E402
from _storm.course_repo import served_course  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OUT = Path(__file__).resolve().parents[1] / "recordings" / "jupyterlab4-open-notebook.json"
TIMEOUT_MS = 120_000


def capture(site: sites.Site) -> dict[str, Any]:
    """Drive Chromium through the lecture once; everything it sent and got, untemplated."""
    from playwright.sync_api import sync_playwright

    student = site.students[0]
    requests: list[dict[str, Any]] = []
    by_request: dict[int, dict[str, Any]] = {}
    sockets: list[dict[str, Any]] = []
    marks: dict[str, float] = {}

    def now() -> float:
        return time.time() * 1000

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context()
        page = context.new_page()

        def on_request(req: Any) -> None:
            entry = {
                "method": req.method,
                "url": req.url,
                "resource_type": req.resource_type,
                "navigation": req.is_navigation_request(),
                "seen_ms": now(),
                "headers": {k: v for k, v in req.headers.items()
                            if k.lower() in ("content-type", "x-xsrftoken", "accept")},
                "body": req.post_data if req.method not in ("GET", "HEAD") else None,
                "redirected_from": req.redirected_from.url if req.redirected_from else None,
            }  # fmt: skip
            requests.append(entry)
            by_request[id(req)] = entry

        def on_done(req: Any, failed: bool = False) -> None:
            entry = by_request.get(id(req))
            if entry is None:
                return
            timing = req.timing
            entry["start_ms"] = timing.get("startTime")
            end = timing.get("responseEnd", -1)
            entry["end_ms"] = entry["start_ms"] + end if end and end >= 0 else now()
            entry["failed"] = failed
            try:
                resp = req.response()
            except Exception:  # the response of a failed request
                resp = None
            if resp is not None:
                entry["status"] = resp.status
                ctype = resp.headers.get("content-type", "")
                if "json" in ctype and entry["resource_type"] in ("fetch", "xhr"):
                    try:
                        entry["response_json"] = resp.json()
                    except Exception:
                        entry["response_json"] = None

        def on_socket(ws: Any) -> None:
            sock: dict[str, Any] = {"url": ws.url, "open_ms": now(), "frames": []}
            sockets.append(sock)

            def frame(direction: str, payload: Any) -> None:
                sock["frames"].append({"ms": now(), "dir": direction, **decode_frame(payload)})
                msg = sock["frames"][-1]
                if direction == "sent" and msg.get("msg_type") == "execute_request":
                    marks.setdefault("execute_sent_ms", now())

            ws.on("framesent", lambda p: frame("sent", p))
            ws.on("framereceived", lambda p: frame("received", p))
            ws.on("close", lambda _ws: sock.setdefault("close_ms", now()))

        context.on("request", on_request)
        context.on("requestfinished", lambda r: on_done(r))
        context.on("requestfailed", lambda r: on_done(r, failed=True))
        page.on("websocket", on_socket)

        marks["click_ms"] = now()
        page.goto(site.link(student.username), timeout=TIMEOUT_MS)
        page.fill("#username_input", student.username)
        page.fill("#password_input", student.password)
        page.click("#login_submit")
        page.wait_for_url("**/lab/tree/**", timeout=TIMEOUT_MS)
        marks["lab_url_ms"] = now()
        cell = page.locator(".jp-Notebook .jp-CodeCell").first
        cell.wait_for(timeout=TIMEOUT_MS)
        # the student runs the cell once the kernel is there (JupyterLab has its
        # kernel_info_reply: the toolbar shows the kernel idle)
        for _ in range(TIMEOUT_MS // 100):
            if any(f.get("msg_type") == "kernel_info_reply" for s in sockets for f in s["frames"]):
                break
            page.wait_for_timeout(100)
        marks["kernel_ready_ms"] = now()
        try:
            cell.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            page.locator(f".jp-OutputArea-output:has-text('{course.EXPECTED}')").first.wait_for(
                timeout=TIMEOUT_MS
            )
        except Exception:
            page.screenshot(path="/tmp/lecture-record-failed.png")
            raise
        marks["result_ms"] = now()
        page.wait_for_timeout(200)  # responses already on their way are not cut short
        version = browser.version
        context.close()
        browser.close()
    return {
        "chromium": version,
        "marks": marks,
        "requests": requests,
        "websockets": sockets,
        "user": student.username,
        "hub_url": site.hub_url,
        "server_url": site.server_url(student.username),
        "notebook": site.notebook,
        "course": site.server_name,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--keep-raw", type=Path, help="also write the untemplated capture here")
    p.add_argument("--from-raw", type=Path, help="template a capture kept with --keep-raw")
    args = p.parse_args(argv)
    if args.from_raw:
        return _write(template_recording(json.loads(args.from_raw.read_text())), args.out)
    with (
        served_course("lecture-record", course.write, course.NAME, course.NOTEBOOK) as served,
        sites.coursehub("coursehub-cold", 1, served, None, print) as site,
    ):
        print(f"recording: {site.link(site.students[0].username)}")
        raw = capture(site)
    if args.keep_raw:
        args.keep_raw.write_text(json.dumps(raw, indent=1, default=str) + "\n")
    return _write(template_recording(raw), args.out)


def _write(recording: dict[str, Any], out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(recording, indent=1) + "\n")
    for line in summary(recording):
        print(line)
    print(f"→ {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
