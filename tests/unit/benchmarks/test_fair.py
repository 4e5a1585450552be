"""The fairness harness of the benchmarks (benchmarks/_fair): how figures are counted."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

from _fair import matrix, results  # noqa: E402
from _fair.cpu import OTHER_WORK, CpuWindow, classify, machine_busy_s  # noqa: E402
from _fair.idle import wait_idle  # noqa: E402
from _fair.stats import FAILED, median_range, percentile, ratio, seconds, spread  # noqa: E402


def test_a_failure_is_slower_than_every_success_in_a_percentile() -> None:
    ok = [float(i) for i in range(1, 48)]  # 47 students in 1..47 s
    with_failures = [*ok, None, None, None]  # and 3 who never got their result
    assert percentile(ok, 0.95) == pytest.approx(44.7)
    assert percentile(with_failures, 0.95) == FAILED
    assert percentile(with_failures, 0.5) == pytest.approx(25.5)
    assert percentile([None, 2.0, 1.0], 0.0) == 1.0
    assert percentile([], 0.5) is None
    assert percentile([math.inf, math.inf], 0.5) == FAILED


def test_a_percentile_between_the_last_success_and_a_failure_is_a_failure() -> None:
    assert percentile([1.0, None], 0.5) == FAILED
    assert percentile([1.0, 2.0, 3.0], 1.0) == 3.0
    with pytest.raises(ValueError):
        percentile([1.0], 95)


def test_failures_print_as_past_the_deadline_and_missing_figures_as_a_dash() -> None:
    assert seconds(None) == "—"
    assert seconds(FAILED, deadline=300) == "> 300 s"
    assert seconds(FAILED) == ">deadline"
    assert seconds(3.14159) == "3.1 s"
    assert spread((3.0, 2.5, 4.0)) == "3.0 s (2.5–4.0)"
    assert spread((3.0, 3.0, 3.0)) == "3.0 s"
    assert spread((3.0, 2.0, FAILED)) == "3.0 s (2.0–>deadline)"
    assert ratio(2.0, 4.0) == "×0.50"
    assert ratio(2.0, FAILED) == "×0 (baseline failed)"


def test_median_and_range_over_repetitions_count_failed_repetitions() -> None:
    assert median_range([3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0)
    assert median_range([1.0, 2.0]) == (1.5, 1.0, 2.0)
    assert median_range([1.0, None, None]) == (FAILED, 1.0, FAILED)
    assert median_range([1.0, None]) == (FAILED, 1.0, FAILED)
    assert median_range([]) is None


def test_repetitions_alternate_the_order_of_targets() -> None:
    assert matrix.order(["A", "B", "C"], 1) == ["A", "B", "C"]
    assert matrix.order(["A", "B", "C"], 2) == ["C", "B", "A"]
    assert matrix.order(["A", "B", "C"], 3) == ["A", "B", "C"]


def test_the_idle_wait_is_bounded_and_recorded() -> None:
    loads = iter([1.5, 0.9, 0.2])
    now = [0.0]
    said: list[str] = []

    def sleep(s: float) -> None:
        now[0] += s

    idle = wait_idle(loadavg=lambda: next(loads), sleep=sleep, clock=lambda: now[0],
                     say=said.append, poll=5, limit=60)  # fmt: skip
    assert idle.reached and idle.load_before == 1.5 and idle.load_at_start == 0.2
    assert idle.waited_s == 10
    busy = wait_idle(loadavg=lambda: 2.0, sleep=sleep, clock=lambda: now[0], say=said.append,
                     poll=5, limit=12)  # fmt: skip
    assert not busy.reached and busy.waited_s == pytest.approx(12)
    assert "measuring anyway" in said[-1]


def test_machine_cpu_counts_a_short_lived_child_process_and_leaves_out_the_driver() -> None:
    window = CpuWindow(students=2, interval=0.05)
    window.start()
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)
    t = time.process_time()
    while time.process_time() - t < 0.2:  # the driver's own work
        pass
    window.stop()
    doc = window.as_dict()
    assert doc["driver_cpu_s"] >= 0.15
    assert doc["site_cpu_s"] >= 0.35  # the child, whoever else ran meanwhile
    # per student: less other work seen on the machine (other tests, other programs)
    alone = doc["site_cpu_s"] - doc["other_work_cpu_s"]
    assert doc["site_cpu_per_student_s"] == pytest.approx(alone / 2, abs=1e-3)
    # the child has a row of its own kind; what no row explains is "unattributed"
    rows = doc["by_kind_cpu_s"]
    assert rows["other"] >= 0.2 and rows["other"] + rows["unattributed"] >= 0.35
    assert "unattributed" in doc["by_kind_cpu_s"]
    assert machine_busy_s() > 0


def test_processes_are_classified_by_command_line_and_who_runs_them() -> None:
    template = "/v/bin/python -m coursehub.forking.servers.template --course x"
    assert classify(template, 0) == "server template"
    assert classify(template, 1234) == "student servers"  # a fork that became the student
    assert classify("/usr/sbin/useradd -m s01", 0).startswith("accounts")
    assert classify("node /x/configurable-http-proxy --ip", 0) == "proxy"
    assert classify("/v/bin/python /v/bin/jupyterhub -f c.py", 0) == "hub"
    assert classify("python -m ipykernel_launcher -f k.json", 1001) == "kernels"


class Stopped(Exception):
    pass


def test_a_storm_measured_from_the_same_commit_and_settings_is_not_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    monkeypatch.setattr(results, "commit", lambda: {"sha": "abc123", "dirty": False})
    monkeypatch.setattr(results, "machine", lambda: {"cores": 2})
    runs: list[tuple[str, int]] = []

    def run_one(storm: matrix.Storm) -> dict[str, object]:
        runs.append((storm.target, storm.rep))
        if storm.target == "B" and storm.rep == 2 and len(runs) == 3:
            raise Stopped  # the matrix stops half-way
        return {"students": [{"ok": True, "seconds": 1.0}]}

    def settings(target: str) -> dict[str, object]:
        return {"students": 1, "target": target}

    with pytest.raises(Stopped):
        matrix.run("lecture", "at-once-1", ["A", "B"], 2, settings, run_one, say=lambda s: None)
    assert runs == [("A", 1), ("B", 1), ("B", 2)]
    docs = matrix.run("lecture", "at-once-1", ["A", "B"], 2, settings, run_one,
                      say=lambda s: None)  # fmt: skip
    assert runs[3:] == [("B", 2), ("A", 2)]  # only what was missing
    assert [(d["target"], d["repetition"]) for d in docs] == [("A", 1), ("B", 1), ("B", 2),
                                                              ("A", 2)]  # fmt: skip
    files = sorted(p.name for p in (tmp_path / "lecture" / "at-once-1").iterdir())
    assert len(files) == 4 and all("-abc123-" in f for f in files)
    doc = json.loads((tmp_path / "lecture" / "at-once-1" / files[0]).read_text())
    assert doc["settings"] == {"students": 1, "target": "A"} and doc["commit"]["sha"] == "abc123"
    # other settings: measured again, and the earlier file is kept
    matrix.run("lecture", "at-once-1", ["A"], 1, lambda t: {"students": 2}, run_one,
               say=lambda s: None)  # fmt: skip
    assert runs[-1] == ("A", 1)
    assert len(list((tmp_path / "lecture" / "at-once-1").iterdir())) == 5


def test_summaries_give_median_and_range_per_target() -> None:
    docs = [{"target": "A", "p95": v} for v in (3.0, 1.0, 2.0)] + [
        {"target": "B", "p95": None},
        {"target": "B", "p95": math.inf},
    ]
    out = matrix.summarize(docs, {"p95": lambda d: d["p95"]})
    assert out["A"]["p95"] == (2.0, 1.0, 3.0)
    assert out["B"]["p95"] == (math.inf, math.inf, math.inf)


def test_a_child_that_ran_before_the_window_counts_only_its_time_inside_it() -> None:
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass"
    # a parent that waits for a child burning 1 CPU-s, about 0.6 of it before the window
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burn!r}])",
        ]
    )
    time.sleep(0.7)
    window = CpuWindow(students=1, interval=0.05)
    window.start()
    parent.wait()
    window.stop()
    rows = window.as_dict()["by_kind_cpu_s"]
    ours = sum(v for k, v in rows.items() if k not in ("unattributed", OTHER_WORK))
    # the child's time inside the window (less than its whole second), never that plus
    # its whole life again through its parent's reaped time
    assert ours < 0.95, rows
