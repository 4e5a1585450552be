"""The lecture benchmark's pieces that need no hub: the recording, its replay plan, the
kernel wire format, the docs renderer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

import render_docs  # noqa: E402
from _lecture import recording, wire  # noqa: E402
from _lecture.net import is_local  # noqa: E402


@pytest.fixture(scope="module")
def rec() -> dict[str, Any]:
    return recording.load()


def test_the_committed_recording_starts_at_the_notebook_page_and_reaches_the_cell(
    rec: dict[str, Any],
) -> None:
    reqs = rec["requests"]
    assert reqs[0]["kind"] == "document" and reqs[0]["url"].startswith("{server}lab/tree/")
    # nothing of the recording site is left in it: ports, user names, ids are templated
    text = json.dumps(reqs)
    assert "s01" not in text and "localhost:" not in text.replace("{server}", "")
    kernel = [r for r in reqs if r["kind"] == "websocket" and "/channels" in r["url"]]
    assert len(kernel) == 1
    sent = [f["msg_type"] for f in kernel[0]["frames"] if f["dir"] == "sent"]
    assert sent[0] == "kernel_info_request" and "execute_request" in sent
    execute = next(f for f in kernel[0]["frames"] if f["msg_type"] == "execute_request")
    assert "tabulate" in execute["content"]["code"]


def test_the_plan_keeps_the_pages_concurrency_and_waits_for_answers(rec: dict[str, Any]) -> None:
    plan = recording.plan_for(rec, "coursehub")
    ids = {s.id for s in plan.steps} | {plan.document.id}
    assert all(s.trigger in ids for s in plan.steps)  # every trigger is replayed too
    first_wave = [s for s in plan.steps if s.trigger == plan.document.id]
    assert len(first_wave) > 3  # the requests the page sends in parallel on load
    patch = next(s for s in plan.steps if s.method == "PATCH")
    post = next(s for s in plan.steps if s.method == "POST" and s.provides)
    assert set(patch.needs) <= set(post.provides)
    assert "uuid_1" in plan.generated and any("client_session" in g for g in plan.generated)


def test_coursehubs_own_requests_are_replayed_on_coursehub_only(rec: dict[str, Any]) -> None:
    ours, theirs = recording.plan_for(rec, "coursehub"), recording.plan_for(rec, "nbgitpuller")
    own = [s.url for s in ours.steps if "coursehub/" in s.url]
    assert own and not [s.url for s in theirs.steps if "coursehub/" in s.url]
    assert theirs.skipped_other_target == len(own)
    assert len(theirs.steps) == len(ours.steps) - len(own)
    assert ours.skipped_static == theirs.skipped_static > 0


def test_kernel_messages_use_jupyterlabs_v1_framing() -> None:
    from jupyter_server.services.kernels.connection.base import (
        deserialize_msg_from_ws_v1,
    )

    msg = wire.message("execute_request", {"code": "1 + 1"}, "sess", "s01")
    data = wire.encode_v1("shell", msg)
    channel, parts = deserialize_msg_from_ws_v1(data)
    assert channel == "shell" and json.loads(parts[0])["msg_type"] == "execute_request"
    assert json.loads(parts[3]) == {"code": "1 + 1"}
    assert wire.decode(data) == ("shell", msg)


def test_students_reach_every_localhost_name_on_loopback() -> None:
    assert is_local("hub.localhost") and is_local("s01.hub.localhost")
    assert not is_local("example.org") and not is_local("localhost.example.org")


def test_the_docs_tables_come_from_committed_results_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    students = [{"user": f"s{i}", "ok": i < 9, "seconds": float(i + 1) if i < 9 else None}
                for i in range(10)]  # fmt: skip
    doc = {"benchmark": "lecture", "scenario": "at-once-10", "target": "coursehub-warmed",
           "repetition": 1, "started": "2026-12-07T10:00:00+00:00", "students": 10, "ok": 9,
           "deadline_s": 300, "per_student": students,
           "commit": {"sha": "abc", "dirty": False},
           "machine": {"cores": 2, "cpu": "x", "memory_gib": 24, "os": "Debian", "python": "3"},
           "idle": {"load_at_start": 0.2}, "cpu": {"site_cpu_per_student_s": 0.3},
           "failures": {"deadline (300 s) passed during jupyterlab": 1}}  # fmt: skip
    monkeypatch.setattr(render_docs.results, "committed", lambda name: iter([(tmp_path, doc)]))
    monkeypatch.setattr(render_docs.results, "changed_since", lambda sha: False)
    page = "intro\n" + render_docs.BEGIN.format(name="lecture") + "\nold\n"
    page += render_docs.END.format(name="lecture") + "\nafter\n"
    out = render_docs.render(page)
    assert out.startswith("intro\n") and out.endswith("\nafter\n") and "old" not in out
    row = next(line for line in out.splitlines() if line.startswith("| coursehub-warmed"))
    assert "9/10" in row and "> 300 s" in row  # p95 with a failure is a failure
    assert "smoke run" in out and "1 × coursehub-warmed: deadline" in out
    with pytest.raises(SystemExit):
        render_docs.render("no markers")
