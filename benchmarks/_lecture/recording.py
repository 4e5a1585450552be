"""JupyterLab 4's start-up, as recorded from Chromium: templating and the replay plan.

A recording (``benchmarks/recordings/jupyterlab4-open-notebook.json``) keeps, from the
moment the browser asked for the notebook's JupyterLab page until the first cell's
result arrived, every request JupyterLab made (method, templated URL and body, start
and end), every websocket and every kernel message the page sent. The navigation
before it (the link, sign-in, the spawn page) is kept for information only: it is
made of the hubs' own redirects, which differ between targets and are followed as a
browser follows them.

Replay rules, derived here once:

- static files (scripts, styles, fonts, images, JupyterLab's extension bundles) are not
  fetched, on either side: the browser's cache holds them after the first lecture, and
  their cost is the same for every target;
- a request starts when the request that ended last before it started (in the
  recording) has ended: requests the page issued in parallel go in parallel, requests
  it issued after an answer wait for that answer; JavaScript's own time between them is
  not replayed (it is the student's browser, the same for every target);
- values that come from answers (kernel and session ids) are waited for;
- requests JupyterLab core does not make (coursehub's own lab plugin) are replayed on
  coursehub only, so that coursehub pays for them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

RECORDING = Path(__file__).resolve().parents[1] / "recordings" / "jupyterlab4-open-notebook.json"
STATIC_TYPES = {"script", "stylesheet", "image", "font", "media", "manifest", "texttrack"}
STATIC_PATH = re.compile(
    r"/(static|extensions|lab/extensions|themes|build)/|\.(js|css|woff2?|svg|png|ico|map)(\?|$)"
)
CORE_PREFIXES = ("api/", "lab/api/", "lab/", "files/", "nbconvert/", "static/", "lsp/",
                 "kernelspecs/", "terminals/")  # fmt: skip
NOW_MS = re.compile(r"(?<=[?&=])1[6-9]\d{11}(?=$|&)")
ANSWERED = ("kernel_id_", "session_id_")  # placeholders filled from answers


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _ids(raw: dict[str, Any]) -> dict[str, str]:
    """Placeholders for the ids in the capture, numbered in order of appearance:
    ``kernel_id_1``, ``session_id_1`` (from the server's answers), ``client_session_1``
    (JupyterLab's websocket session), ``uuid_1`` (other ids the page made up), ``xsrf``."""
    names: dict[str, str] = {}

    def add(value: Any, kind: str) -> None:
        value = str(value or "")
        if value and value != "None" and value not in names:
            n = 1 + sum(1 for v in names.values() if v.startswith(kind + "_"))
            names[value] = f"{kind}_{n}" if kind != "xsrf" else "xsrf"

    events: list[tuple[float, str, Any]] = []
    for req in raw["requests"]:
        events.append((req.get("start_ms") or req["seen_ms"], "request", req))
    for sock in raw["websockets"]:
        events.append((sock["open_ms"], "socket", sock))
    for _, what, item in sorted(events, key=lambda e: e[0]):
        if what == "request":
            query = parse_qs(urlsplit(item["url"]).query)
            for x in [*query.get("_xsrf", []), item["headers"].get("x-xsrftoken")]:
                add(x, "xsrf")
            body = item.get("response_json")
            for entry in body if isinstance(body, list) else [body]:
                if isinstance(entry, dict) and isinstance(entry.get("kernel"), dict):
                    add(entry.get("id"), "session_id")
                    add(entry["kernel"].get("id"), "kernel_id")
                elif isinstance(entry, dict) and "execution_state" in entry:
                    add(entry.get("id"), "kernel_id")
        else:
            parts = urlsplit(item["url"])
            for x in parse_qs(parts.query).get("session_id", []):
                add(x, "client_session")
    for req in raw["requests"]:
        for x in UUID.findall(f"{req['url']} {req.get('body') or ''}"):
            add(x, "uuid")
    return names


class Templater:
    def __init__(self, raw: dict[str, Any]) -> None:
        server, hub, nb = raw["server_url"], raw["hub_url"], raw["notebook"]
        self.ids = _ids(raw)
        self.folder = nb.rsplit("/", 1)[0] if "/" in nb else ""
        pairs: list[tuple[str, str]] = [(server, "{server}"), (hub, "{hub}")]
        pairs += [(value, "{" + name + "}") for value, name in self.ids.items()]
        pairs += [(quote(nb), "{notebook_url}"), (nb, "{notebook}")]
        pairs += [(raw["user"], "{user}")]
        # longest first: a server URL contains the hub's host, a path contains the user
        self.pairs = sorted(pairs, key=lambda kv: -len(kv[0]))

    def __call__(self, text: str) -> str:
        for value, mark in self.pairs:
            text = text.replace(value, mark)
        if self.folder:  # the notebook's folder, as a path segment of its own
            text = re.sub(rf"(?<![\w.{{-]){re.escape(self.folder)}(?=[/?\"&]|$)",
                          "{notebook_dir}", text)  # fmt: skip
        return NOW_MS.sub("{now_ms}", text)

    def deep(self, value: Any) -> Any:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.deep(v) for v in value]
        if isinstance(value, dict):
            return {k: self.deep(v) for k, v in value.items()}
        return value

    def provided(self, answer: Any) -> dict[str, str]:
        """What a session POST's answer gives later requests: placeholder -> JSON path."""
        out: dict[str, str] = {}
        if isinstance(answer, dict) and isinstance(answer.get("kernel"), dict):
            for path, value in (
                ("id", answer.get("id")),
                ("kernel.id", answer["kernel"].get("id")),
            ):
                if str(value) in self.ids:
                    out[self.ids[str(value)]] = path
        return out


def _kind(req: dict[str, Any], templ: str) -> str:
    if req["resource_type"] == "websocket":
        return "websocket"
    if req["resource_type"] == "eventsource":
        return "eventsource"
    if req["navigation"]:
        return "document"
    if req["resource_type"] in STATIC_TYPES or STATIC_PATH.search(urlsplit(templ).path):
        return "static"
    return "api"


def _only(templ: str) -> str | None:
    """'coursehub' for requests JupyterLab core does not make."""
    if templ.startswith("{server}"):
        rest = templ[len("{server}") :]
        return None if rest.startswith(CORE_PREFIXES) or rest == "" else "coursehub"
    return "coursehub" if "/services/coursehub" in templ else None


def template_recording(raw: dict[str, Any]) -> dict[str, Any]:
    """The committed recording: templated, ordered, with each request's trigger."""
    t = Templater(raw)
    # Playwright reports websockets apart from requests: one request entry each
    opened = [{"method": "GET", "url": re.sub(r"^ws(s?)://", r"http\1://", s["url"]),
               "ws_url": s["url"], "resource_type": "websocket",
               "navigation": False, "seen_ms": s["open_ms"], "start_ms": s["open_ms"],
               "end_ms": None, "headers": {}, "body": None, "status": 101}
              for s in raw["websockets"]]  # fmt: skip
    reqs = sorted([*raw["requests"], *opened], key=lambda r: r.get("start_ms") or r["seen_ms"])
    lab_doc = max(
        (i for i, r in enumerate(reqs) if r["navigation"]
         and t(r["url"]).startswith("{server}lab/tree/")),
        default=None,
    )  # fmt: skip
    if lab_doc is None:
        raise ValueError("the capture has no JupyterLab page for the notebook")
    t0 = reqs[lab_doc].get("start_ms") or reqs[lab_doc]["seen_ms"]
    result_ms = raw["marks"]["result_ms"]
    navigation = [{"method": r["method"], "url": t(r["url"]), "status": r.get("status"),
                   "ms": round((r.get("start_ms") or r["seen_ms"]) - raw["marks"]["click_ms"])}
                  for r in reqs[:lab_doc]]  # fmt: skip
    out: list[dict[str, Any]] = []
    for i, r in enumerate(reqs[lab_doc:]):
        templ = t(r["url"])
        start = (r.get("start_ms") or r["seen_ms"]) - t0
        end = r.get("end_ms")
        kind = _kind(r, templ)
        open_ended = kind in ("websocket", "eventsource") or end is None or end > result_ms
        entry: dict[str, Any] = {
            "id": i,
            "kind": kind,
            "method": r["method"],
            "url": templ,
            "resource_type": r["resource_type"],
            "start_ms": round(start, 1),
            "end_ms": None if open_ended or end is None else round(end - t0, 1),
            "status": r.get("status"),
            "body": t.deep(r["body"]) if r.get("body") else None,
            "content_type": r["headers"].get("content-type"),
            "xsrf_header": bool(r["headers"].get("x-xsrftoken")),
            "only": _only(templ),
        }
        text = json.dumps([entry["url"], entry["body"]])
        entry["needs"] = sorted(set(re.findall(r"\{((?:kernel_id|session_id)_\d+)\}", text)))
        provides = t.provided(r.get("response_json"))
        if provides and r["method"] == "POST":
            entry["provides"] = provides
        if kind == "websocket":
            entry.update(_socket(raw, r["ws_url"], t, t0, result_ms))
        out.append(entry)
    if out[0]["kind"] != "document":
        raise ValueError("the recording must start with the notebook's JupyterLab page")
    _triggers(out)
    return {
        "what": "JupyterLab's start-up requests, from its page for the notebook until the "
        "first cell's result, recorded from Chromium on a coursehub site",
        "recorded_with": {"chromium": raw["chromium"], "site": "coursehub, per-user subdomains"},
        "marks_ms": {k: round(v - t0, 1) for k, v in raw["marks"].items()},
        "navigation": navigation,
        "requests": out,
    }


def _socket(
    raw: dict[str, Any], url: str, t: Templater, t0: float, result_ms: float
) -> dict[str, Any]:
    """A websocket's frames: what the page sent (content kept), what it received (types)."""
    sock = next((s for s in raw["websockets"] if s["url"] == url), None)
    if sock is None:
        return {"binary": False, "frames": []}
    frames = []
    for f in sock["frames"]:
        if f.get("undecoded") or f["ms"] > result_ms + 1 or not f.get("msg_type"):
            continue
        frame = {
            "ms": round(f["ms"] - t0, 1),
            "dir": f["dir"],
            "channel": f.get("channel"),
            "msg_type": f.get("msg_type"),
            "parent_msg_type": f.get("parent_msg_type"),
        }
        if f["dir"] == "sent":
            frame.update(
                content=t.deep(f.get("content")),
                metadata=t.deep(f.get("metadata")),
                username=t(f.get("header", {}).get("username", "")),
            )
        frames.append(frame)
    return {"binary": any(f.get("binary") for f in sock["frames"]), "frames": frames}


def _triggers(reqs: list[dict[str, Any]]) -> None:
    """Each request's trigger: the replayed request that ended last before it started."""
    for r in reqs[1:]:
        ended = [o for o in reqs if o["kind"] not in ("static",) and o["end_ms"] is not None
                 and o["end_ms"] <= r["start_ms"] and o["id"] != r["id"]]  # fmt: skip
        r["trigger"] = max(ended, key=lambda o: o["end_ms"])["id"] if ended else 0
    reqs[0]["trigger"] = None


# --------------------------------------------------------------------------- the plan


@dataclass
class Step:
    id: int
    kind: str
    method: str
    url: str
    body: Any
    content_type: str | None
    xsrf_header: bool
    trigger: int | None
    needs: list[str]
    provides: dict[str, str]
    recorded_status: int | None
    binary: bool = False  # websockets: the v1 kernel protocol
    frames: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Plan:
    document: Step
    steps: list[Step]  # replayed, in recorded start order (the document excluded)
    generated: list[str]  # placeholders the page makes up (uuid_N, client_session_N)
    skipped_static: int = 0
    skipped_other_target: int = 0
    digest: str = ""


def load(path: Path = RECORDING) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: record it once with .venv/bin/python benchmarks/_lecture/record.py"
        )
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def plan_for(recording: dict[str, Any], target_kind: str) -> Plan:
    """What one student replays on a target ("coursehub" or "nbgitpuller")."""
    reqs = {r["id"]: r for r in recording["requests"]}
    keep = {i for i, r in reqs.items() if r["kind"] != "static"
            and (r["only"] is None or r["only"] == target_kind)}  # fmt: skip

    def resolve(trigger: int | None) -> int | None:
        while trigger is not None and trigger not in keep:
            trigger = reqs[trigger].get("trigger")
        return trigger

    def step(r: dict[str, Any]) -> Step:
        return Step(r["id"], r["kind"], r["method"], r["url"], r["body"], r["content_type"],
                    r["xsrf_header"], resolve(r.get("trigger")), r["needs"],
                    r.get("provides", {}), r["status"], r.get("binary", False),
                    r.get("frames", []))  # fmt: skip

    ordered = sorted((reqs[i] for i in keep), key=lambda r: r["start_ms"])
    text = json.dumps(recording["requests"])
    generated = sorted(set(re.findall(r"\{((?:uuid|client_session)_\d+)\}", text)))
    digest = hashlib.sha256(json.dumps(recording, sort_keys=True).encode()).hexdigest()[:12]
    return Plan(
        document=step(ordered[0]),
        steps=[step(r) for r in ordered[1:]],
        generated=generated,
        skipped_static=sum(1 for r in reqs.values() if r["kind"] == "static"),
        skipped_other_target=sum(1 for r in reqs.values()
                                 if r["kind"] != "static" and r["id"] not in keep),
        digest=digest,
    )  # fmt: skip


def summary(recording: dict[str, Any]) -> Iterable[str]:
    """Lines describing a recording, for the printout and the docs."""
    reqs = recording["requests"]
    kinds: dict[str, int] = {}
    for r in reqs:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    yield (f"{len(reqs)} requests from JupyterLab's page to the result: "
           + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))  # fmt: skip
    own = sum(1 for r in reqs if r["only"])
    yield f"{own} of them coursehub's own (replayed on coursehub only)"
    for r in reqs:
        if r["kind"] == "websocket":
            sent = [f["msg_type"] for f in r.get("frames", []) if f["dir"] == "sent"]
            yield f"websocket {r['url'].split('?')[0]}: sends {', '.join(sent) or 'nothing'}"
