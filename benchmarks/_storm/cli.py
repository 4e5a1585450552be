"""What every storm benchmark's command line shares: options, root check, signals, report."""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from _storm.report import Summary, print_report, write_json

TARGET_NAMES = ("baseline", "coursehub")


def parse_args(argv: list[str] | None, description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--students", type=int, default=20, help="students per target (default 20)")
    p.add_argument("--target", choices=[*TARGET_NAMES, "both"], default="both")
    p.add_argument(
        "--deadline", type=float, default=300, help="seconds per target's storm (default 300)"
    )
    p.add_argument("--json", type=Path, help="also write the results to this file")
    p.add_argument("--keep-logs", type=Path, help="copy hub logs here before cleaning up")
    args = p.parse_args(argv)
    if not 1 <= args.students <= 999:
        p.error("--students must be between 1 and 999")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM takes the same path as Ctrl-C, so every cleanup block runs.
    raise KeyboardInterrupt


def run_benchmark(
    benchmark: str,
    args: argparse.Namespace,
    run_target: Callable[[str, argparse.Namespace, Console], Summary],
    title: str,
) -> int:
    """Run each chosen target in turn (baseline first), then print and save the report."""
    console = Console()
    if os.geteuid() != 0:
        console.print(f"{benchmark} needs root: it creates and deletes real Unix accounts.")
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    names = list(TARGET_NAMES) if args.target == "both" else [args.target]
    results: dict[str, Summary] = {}
    try:
        for name in names:
            results[name] = run_target(name, args, console)
    except KeyboardInterrupt:
        console.print("interrupted; hubs stopped and accounts deleted")
        return 130
    print_report(results, console, title)
    if args.json:
        settings: dict[str, Any] = {"students": args.students, "deadline_s": args.deadline}
        write_json(args.json, results, settings, benchmark)
    return 1 if any(r.error for r in results.values()) else 0
