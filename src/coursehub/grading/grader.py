"""Run grading plans in the sandbox: one throwaway account and one fresh kernel per
notebook, the instructor's tests through the harness, every limit enforced outside."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from coursehub.config.models import GradingLimitsConfig
from coursehub.grading import harness
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
    files laid over it) as the work directory; `workdir` is made and removed here."""
    if workdir.exists():
        shutil.rmtree(workdir)
    shutil.copytree(files, workdir, symlinks=True)
    workdir.chmod(0o700)
    results: list[StepResult] = []
    nonce = harness.new_nonce()
    outcome = "ok"
    output_lines: list[str] = []
    started = time.monotonic()
    deadline = started + limits.sandbox.wall_seconds
    try:
        with sandbox_account(workdir, limits.sandbox) as account:
            log_path = workdir.with_name(workdir.name + ".log")
            try:
                kernel = SandboxKernel(account, python=python, log_path=log_path)
                kernel.__enter__()
            except KernelStartError as exc:
                outcome = f"the kernel did not start: {exc}"
                results = [StepResult("not run") for _ in plan.steps]
                tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
                return NotebookRun(plan, results, outcome, tail)
            finally:
                log_path.unlink(missing_ok=True)
            try:
                dead_reason = ""
                for index, step in enumerate(plan.steps):
                    left = deadline - time.monotonic()
                    if dead_reason or left <= 0:
                        if not dead_reason:
                            dead_reason = "stopped at the wall-time limit"
                        results.append(StepResult("not run"))
                        continue
                    if step.kind == "code":
                        code = step.source
                    else:
                        code = harness.test_code(
                            nonce,
                            kernel.results_fd,
                            index,
                            step.test_kind,
                            step.question,
                            step.payload,
                        )
                    run = kernel.execute(code, timeout=min(limits.cell_seconds, left))
                    if step.kind == "code" and step.cell_index is not None:
                        cell = plan.nb.cells[step.cell_index]
                        cell.outputs = run.outputs
                    if step.kind == "test":
                        kernel.results.wait_for(f'"step": {index},', 1.0)
                    results.append(StepResult(run.status))
                    if run.status == "timeout":
                        output_lines.append(f"cell {index}: stopped after {run.seconds:.0f} s")
                    if run.status == "dead" or not kernel.alive:
                        dead_reason = (
                            "the kernel died (the notebook exited or crashed it)"
                            if run.status != "timeout"
                            else "a cell ran past its time limit and the kernel was stopped"
                        )
                if dead_reason:
                    outcome = dead_reason
                if kernel.outputs_dropped:
                    output_lines.append(f"{kernel.outputs_dropped} outputs over the size limit")
            finally:
                kernel.close()
            records = harness.read_records(kernel.results.lines(), nonce)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    notes = list(plan.notes)
    for index, result in enumerate(results):
        record = records.get(index)
        if plan.steps[index].kind == "test" and record is not None:
            result.record = record
            for found in record.found:
                if found not in notes:
                    notes.append(found)
            if not record.ok:
                output_lines.append(f"{plan.steps[index].question}: {record.message.strip()}")
    return NotebookRun(plan, results, outcome, "\n".join(output_lines), notes)
