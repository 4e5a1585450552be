"""Run grading plans in the sandbox: one throwaway account and one fresh kernel per
notebook, the instructor's tests in a test process of another account (harness.py),
every limit enforced outside."""

from __future__ import annotations

import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coursehub.config.models import GradingLimitsConfig
from coursehub.grading import harness
from coursehub.grading.evaluation import Evaluator
from coursehub.grading.kernel_runner import KernelStartError, SandboxKernel
from coursehub.grading.plan import NotebookPlan, NotebookRun, StepResult
from coursehub.grading.sandbox import SandboxLimits, sandbox_account


@dataclass(frozen=True)
class GradingLimits:
    sandbox: SandboxLimits = SandboxLimits()
    cell_seconds: float = 60.0  # one cell; the whole run is sandbox.wall_seconds


def limits_from(limits: GradingLimitsConfig) -> GradingLimits:
    """The sandbox's limits from coursehub.yaml's grading.limits."""
    sandbox = SandboxLimits(
        cpu_seconds=limits.cpu_time,
        memory=limits.memory,
        processes=limits.processes,
        file_size=limits.file_size,
        wall_seconds=float(limits.wall_time),
    )
    return GradingLimits(sandbox=sandbox, cell_seconds=float(limits.cell_time))


def run_plan(
    plan: NotebookPlan,
    files: Path,
    workdir: Path,
    limits: GradingLimits = GradingLimits(),
    python: str = sys.executable,
) -> NotebookRun:
    """Execute `plan` with a copy of `files` (the submission with the instructor's
    files laid over it) as the work directory; `workdir` is made and removed here.
    The notebook runs in one box, its tests in another (see harness.py)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    shutil.copytree(files, workdir, symlinks=True)
    workdir.chmod(0o700)
    tests_dir = workdir.with_name(workdir.name + "-tests")
    tests = [i for i, step in enumerate(plan.steps) if step.kind == "test"]
    pairs = {i: socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for i in tests}
    results: list[StepResult] = []
    records: dict[int, harness.TestRecord] = {}
    output_lines: list[str] = []
    deadline = time.monotonic() + limits.sandbox.wall_seconds
    if tests_dir.exists():  # left by a run the service's restart cut short
        shutil.rmtree(tests_dir)
    shutil.copytree(files, tests_dir, symlinks=False)
    tests_dir.chmod(0o700)
    try:
        with (
            sandbox_account(tests_dir, limits.sandbox) as tests_account,
            sandbox_account(workdir, limits.sandbox) as account,
        ):
            # The test process starts now, so its imports overlap the notebook's run;
            # it is sent nothing before the notebook's outputs are all collected.
            kinds = sorted({plan.steps[i].test_kind for i in tests})
            evaluator = Evaluator(tests_account, python=python, preload=kinds)
            log_path = workdir.with_name(workdir.name + ".log")
            numbers = {i: theirs.fileno() for i, (_, theirs) in pairs.items()}
            try:
                if tests:
                    evaluator.start()
                kernel = SandboxKernel(
                    account, python=python, log_path=log_path, pass_fds=tuple(numbers.values())
                )
                kernel.__enter__()
            except KernelStartError as exc:
                evaluator.stop()
                results = [StepResult("not run") for _ in plan.steps]
                tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
                return NotebookRun(plan, results, f"the kernel did not start: {exc}", tail)
            finally:
                log_path.unlink(missing_ok=True)
                for _, theirs in pairs.values():
                    theirs.close()
            try:
                outcome = _run_cells(plan, kernel, numbers, limits, deadline, results, output_lines)
                # Every output for the feedback is in: only now do the tests run.
                kernel.stop_main()
                ready = [i for i in tests if results[i].status == "ok"]
                records = _run_tests(plan, ready, pairs, evaluator, limits, deadline, output_lines)
            finally:
                evaluator.stop()
                kernel.close()
    finally:
        for ours, _ in pairs.values():
            ours.close()
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(tests_dir, ignore_errors=True)
        tests_dir.with_name(tests_dir.name + ".log").unlink(missing_ok=True)
    notes = list(plan.notes)
    for index, result in enumerate(results):
        record = records.get(index)
        if plan.steps[index].kind == "test" and record is not None:
            result.record = record
            for found in record.found:
                if found not in notes:
                    notes.append(found)
            if not record.ok:
                said = record.message.strip() or record.error
                output_lines.append(f"{plan.steps[index].question}: {said}")
    return NotebookRun(plan, results, outcome, "\n".join(output_lines), notes)


def _run_cells(
    plan: NotebookPlan,
    kernel: SandboxKernel,
    numbers: dict[int, int],
    limits: GradingLimits,
    deadline: float,
    results: list[StepResult],
    output_lines: list[str],
) -> str:
    """The student's cells in order, a copy of the kernel left at each test's place
    (answering on the descriptor `numbers` gives for it); the run's outcome (ok, or
    why it stopped early)."""
    dead_reason = ""
    copies: set[int] = set()
    for index, step in enumerate(plan.steps):
        left = deadline - time.monotonic()
        if dead_reason or left <= 0:
            dead_reason = dead_reason or "stopped at the wall-time limit"
            results.append(StepResult("not run"))
            continue
        # at a test's place: the same descriptor number in the kernel
        code = step.source if step.kind == "code" else harness.snapshot_code(numbers[index])
        before = kernel.children()
        run = kernel.execute(code, timeout=min(limits.cell_seconds, left))
        if step.kind == "test" and run.status == "error" and kernel.alive:
            # most often no process or thread left to copy the kernel into (the notebook
            # used them all): end its other processes, its earlier copies excepted, once
            output_lines.append(f"cell {index}: {kernel.end_strays(copies)} processes ended")
            code = harness.snapshot_code(numbers[index], reap=True)
            run = kernel.execute(code, timeout=min(limits.cell_seconds, max(0.1, left)))
        if step.kind == "test" and run.status == "ok":
            copies |= kernel.children() - before
        if step.kind == "code" and step.cell_index is not None:
            plan.nb.cells[step.cell_index].outputs = run.outputs
        results.append(StepResult(run.status))
        if step.kind == "test" and run.status == "error":
            output_lines.append(f"{step.question}: the notebook's state could not be kept "
                                f"for the test ({run.error_name})")
            output_lines.extend(str(o.get("evalue", ""))[:300] for o in run.outputs)
        if run.status == "timeout":
            output_lines.append(f"cell {index}: stopped after {run.seconds:.0f} s")
        if run.status == "dead" or not kernel.alive:
            dead_reason = (
                "the kernel died (the notebook exited or crashed it)"
                if run.status != "timeout"
                else "a cell ran past its time limit and the kernel was stopped"
            )
    if kernel.outputs_dropped:
        output_lines.append(f"{kernel.outputs_dropped} outputs over the size limit")
    return dead_reason or "ok"


def _run_tests(
    plan: NotebookPlan,
    ready: list[int],
    pairs: dict[int, tuple[socket.socket, socket.socket]],
    evaluator: Evaluator,
    limits: GradingLimits,
    deadline: float,
    stopped: list[str],
) -> dict[int, harness.TestRecord]:
    """Each test in the test process of its own box: tests without hidden parts first
    (their messages may be shown), then the hidden ones. Tests stopped at their time
    limit are added to `stopped` as the steps' time-limit lines."""
    jobs = []
    for index in ready:
        step = plan.steps[index]
        before = [s.payload for s in plan.steps[:index] if s.kind == "test"]
        earlier = harness.definitions(before) if step.test_kind == "nbgrader" else ""
        for hidden, job in harness.jobs_for(step.test_kind, step.question, step.payload, earlier):
            jobs.append((hidden, index, job))
    jobs.sort(key=lambda item: item[0])
    parts: dict[int, list[tuple[bool, dict[str, Any]]]] = {i: [] for i in ready}
    for hidden, index, job in jobs:
        left = deadline - time.monotonic()
        if left <= 0:
            report = {"ok": False, "error": "Timeout", "message": "not run: wall time"}
        else:
            report = evaluator.run(job, pairs[index][0], min(limits.cell_seconds, left))
        if report.get("error") == "Timeout" and "seconds" in report:
            stopped.append(f"cell {index}: stopped after {report['seconds']:.0f} s")
        parts[index].append((hidden, report))
    return {i: harness.record_from(i, p) for i, p in parts.items()}
