"""Run every target several times, in alternating order, and resume where a run stopped.

Repetition 1 runs A B C, repetition 2 C B A, repetition 3 A B C again: no target always
runs first (on a cold machine) or right after another's clean-up. Each storm's raw result
is written as soon as it ends; running the same matrix again from the same commit skips
the storms whose result exists with the same settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _fair import results
from _fair.stats import median_range

MIN_REPETITIONS = 3  # what counts as a measurement; fewer is a smoke run


def order(targets: Sequence[str], rep: int) -> list[str]:
    """Targets in the order of repetition `rep` (1-based): forward, then backward, ..."""
    return list(targets) if rep % 2 == 1 else list(reversed(targets))


@dataclass(frozen=True)
class Storm:
    benchmark: str
    scenario: str
    target: str
    rep: int
    settings: Mapping[str, Any]


RunOne = Callable[[Storm], dict[str, Any]]


def run(
    benchmark: str,
    scenario: str,
    targets: Sequence[str],
    repetitions: int,
    settings: Callable[[str], Mapping[str, Any]],
    run_one: RunOne,
    *,
    say: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run (or find) every storm of the matrix; returns every result document.

    run_one(storm) returns the storm's own figures (students, CPU, ...); the commit, the
    date, the machine, the settings and their digest are added here, and the file is
    written before the next storm starts.
    """
    if repetitions < MIN_REPETITIONS:
        say(f"note: {repetitions} repetition(s): a smoke run; a measurement needs "
            f"{MIN_REPETITIONS} or more")  # fmt: skip
    code = results.commit()
    if code["dirty"]:
        say("note: src/ or benchmarks/ have uncommitted changes: results are marked dirty "
            "and are never reused to resume")  # fmt: skip
    docs: list[dict[str, Any]] = []
    for rep in range(1, repetitions + 1):
        for target in order(targets, rep):
            chosen = dict(settings(target))
            storm = Storm(benchmark, scenario, target, rep, chosen)
            done = results.find_done(benchmark, scenario, target, rep, code["sha"], chosen)
            if done is not None:
                say(f"{target}, repetition {rep}: measured already ({_rel(done)}), skipped")
                docs.append(results.json_load(done))
                continue
            say(f"{target}, repetition {rep} of {repetitions}")
            started = results.now_iso()
            figures = run_one(storm)
            doc = {
                "benchmark": benchmark,
                "scenario": scenario,
                "target": target,
                "repetition": rep,
                "started": started,
                "ended": results.now_iso(),
                "commit": code,
                "machine": results.machine(),
                "settings": chosen,
                "settings_key": results.settings_key(chosen),
                **figures,
            }
            path = results.write(
                results.storm_path(benchmark, scenario, target, rep, code["sha"]), doc
            )
            say(f"{target}, repetition {rep}: result written to {_rel(path)}")
            docs.append(doc)
    return docs


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(results.REPO))
    except ValueError:
        return str(path)


def summarize(
    docs: Sequence[Mapping[str, Any]], figures: Mapping[str, Callable[[Mapping[str, Any]], Any]]
) -> dict[str, dict[str, tuple[float, float, float] | None]]:
    """Per target: each figure's (median, lowest, highest) over its repetitions.

    figures maps a name to how to read it from one result (None or inf: failed/missing).
    """
    by_target: dict[str, list[Mapping[str, Any]]] = {}
    for doc in docs:
        by_target.setdefault(doc["target"], []).append(doc)
    out: dict[str, dict[str, tuple[float, float, float] | None]] = {}
    for target, runs in by_target.items():
        out[target] = {}
        for name, read in figures.items():
            values = [read(run) for run in runs]
            present = [v for v in values if v is not None]
            # a figure nobody measured stays missing; a failed one (inf) counts as such
            out[target][name] = median_range(present) if present else None
    return out
