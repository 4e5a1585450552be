"""Regenerate the results tables of docs/benchmarks.md from the committed raw results.

    .venv/bin/python benchmarks/render_docs.py          # rewrite the generated sections
    .venv/bin/python benchmarks/render_docs.py --check  # exit 1 if they are out of date

Only result files git has at HEAD are read (``benchmarks/results/<benchmark>/``): a
local run that was not committed never reaches the docs. Each generated section sits
between two markers in docs/benchmarks.md; the text around them is written by hand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from _fair import results
from _fair.matrix import MIN_REPETITIONS
from _lecture import report as lecture_report

DOCS = results.REPO / "docs" / "benchmarks.md"
BEGIN = "<!-- BEGIN generated: {name} (benchmarks/render_docs.py; do not edit) -->"
END = "<!-- END generated: {name} -->"

BASELINE_WORDS = {
    "coursehub-cold": "coursehub with its production settings (per-user subdomains), servers "
    "forked at the click (the default), nothing started before class",
    "coursehub-warmed": "the same site, the course's servers warmed before class (how: see "
    "Warm-up above)",
    "baseline-tuned": "plain JupyterHub in its own clean venv (same versions of jupyterhub, "
    "jupyterlab, jupyter_server, ipykernel, nbgitpuller, nbgrader, and the course's "
    "requirements), PAM with real Unix accounts, `Spawner.start_timeout` and `http_timeout` "
    "300 s, `default_url` /lab, per-user subdomains, nbgitpuller link",
    "baseline-fixes": "the tuned baseline with the environment fixes coursehub applies to its "
    "own servers: rfc3987-syntax not installed, nbgrader's server and lab extensions off",
    "baseline-prestarted": "the tuned baseline whose servers the admin started before class "
    "through the REST API",
}


def _scenario_title(scenario: str) -> str:
    variant, _, n = scenario.rpartition("-")
    words = {"at-once": "all at once", "spread": "spread over the first minute",
             "second": "a second lecture (accounts and cookies exist)"}  # fmt: skip
    return f"{n} students, {words.get(variant, variant)}"


def lecture(docs: Sequence[Mapping[str, Any]]) -> str:
    if not docs:
        return "_No committed results yet: run the command above and commit its files._\n"
    by_scenario: dict[str, list[Mapping[str, Any]]] = {}
    for doc in docs:
        by_scenario.setdefault(doc["scenario"], []).append(doc)
    parts: list[str] = []
    for scenario, runs in sorted(by_scenario.items()):
        shas = sorted({d["commit"]["sha"] for d in runs})
        days = sorted({d["started"][:10] for d in runs})
        reps = max(d["repetition"] for d in runs)
        machine = runs[0]["machine"]
        parts.append(f"#### {_scenario_title(scenario)}\n")
        notes = [
            f"commit {', '.join(shas)}, {' to '.join(dict.fromkeys([days[0], days[-1]]))}",
            f"{machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB, "
            f"{machine['os']}, Python {machine['python']}",
        ]
        loads = [d["idle"]["load_at_start"] for d in runs if d.get("idle")]
        if loads:
            notes.append(f"1-min load when the storms began: {min(loads):.2f}–{max(loads):.2f}")
        parts.append("; ".join(notes) + ".\n")
        if reps < MIN_REPETITIONS:
            parts.append(f"**A smoke run ({reps} repetition{'s' if reps > 1 else ''}), not a "
                         f"measurement**: it shows the benchmark works; the figures need "
                         f"{MIN_REPETITIONS} repetitions on an idle machine.\n")  # fmt: skip
        if any(d["commit"].get("dirty") for d in runs):
            parts.append("Some of these storms ran with uncommitted changes.\n")
        if any(results.changed_since(sha) for sha in shas):
            parts.append("The measured code (src/, pyproject.toml or the recording) changed "
                         "since these results: run the benchmark again.\n")  # fmt: skip
        parts.append(lecture_report.markdown(runs) + "\n")
        ratio_lines = lecture_report.ratios(runs)
        if ratio_lines:
            parts.append("Ratios of the medians (below 1: coursehub better): "
                         + "; ".join(ratio_lines) + ".\n")  # fmt: skip
        disturbed = [
            f"{d['target']} (repetition {d['repetition']}: {share:.0%})"
            for d in runs
            if (share := _other_share(d)) > DISTURBED
        ]
        if disturbed:
            parts.append("**Disturbed**: other work on the machine (processes neither started "
                         "by the benchmark nor the students') took more than "
                         f"{DISTURBED:.0%} of the machine's CPU during "
                         + ", ".join(disturbed) + "; their times are slower than the "
                         "target's own and not comparable with the others.\n")  # fmt: skip
        methods = {d["target"]: d["warm_up"]["method"] for d in runs if d.get("warm_up")}
        if methods:
            parts.append("Warm-up: " + "; ".join(f"{t}: {m}" for t, m in sorted(methods.items()))
                         + ".\n")  # fmt: skip
        tallies: dict[str, int] = {}
        for d in runs:
            for why, n in (d.get("failures") or {}).items():
                key = f"{d['target']}: {why}"
                tallies[key] = tallies.get(key, 0) + int(n)
        if tallies:
            parts.append("Failures: " + "; ".join(f"{n} × {k}" for k, n in tallies.items())
                         + ".\n")  # fmt: skip
        targets = sorted({d["target"] for d in runs}, key=list(BASELINE_WORDS).index)
        parts.append("\n".join(f"- **{t}**: {BASELINE_WORDS.get(t, t)}." for t in targets) + "\n")
    return "\n".join(parts).rstrip() + "\n"


DISTURBED = 0.10  # share of the machine's CPU taken by other work that spoils a storm


def _other_share(doc: Mapping[str, Any]) -> float:
    cpu = doc.get("cpu") or {}
    machine = float(cpu.get("machine_cpu_s") or 0)
    other = float(cpu.get("other_work_cpu_s", (cpu.get("by_kind_cpu_s") or {}).get(
        "other work (not this benchmark's processes)", 0.0)))  # fmt: skip
    return other / machine if machine else 0.0


SECTIONS: dict[str, Callable[[Sequence[Mapping[str, Any]]], str]] = {"lecture": lecture}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        begin, end = BEGIN.format(name=name), END.format(name=name)
        if begin not in text or end not in text:
            raise SystemExit(f"{DOCS}: markers for {name!r} missing; add the lines\n{begin}\n{end}")
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        docs = [doc for _, doc in results.committed(name)]
        text = f"{head}{begin}\n{make(docs)}{end}{tail}"
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="exit 1 if the docs are out of date")
    p.add_argument("--docs", type=Path, default=DOCS)
    args = p.parse_args(argv)
    old = args.docs.read_text()
    new = render(old)
    if args.check:
        if new != old:
            print(f"{args.docs} is out of date: run benchmarks/render_docs.py")
            return 1
        return 0
    if new != old:
        args.docs.write_text(new)
        print(f"{args.docs}: generated sections rewritten")
    else:
        print(f"{args.docs}: up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
