"""Baseline of the live class benchmark: the PipalHub-style rebuild driven by inotify
instead of a timer, as a competent admin would write it today.

watchdog's inotify observer watches every student's directory; each time a student's
notebook is written (Jupyter saves atomically: a temporary file renamed over the
notebook, so a "moved" event, or "modified"/"closed" for a write in place), that
student's tail page is rebuilt exactly as the poller rebuilds it (live_poller.rebuild:
read, nbformat parse, ``tail_of``, HTML, written) and the (student, sha256) it saw is
logged in the poller's JSON-lines format. Nothing is polled: between saves the
process sleeps. Run as ``python -m _storm.live_watcher``, started by ``watcher()``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _storm.live_poller import PollerRun, launch, rebuild, warm_up


def watch(students: Path, notebook: str, out: Path, log: Path, stop_at: float) -> None:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    out.mkdir(parents=True, exist_ok=True)
    seen: dict[str, str] = {}
    lock = threading.Lock()
    name = Path(notebook).name
    counts = {"events": 0, "rebuilds": 0}

    class Saved(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.is_directory or event.event_type not in ("moved", "modified", "closed"):
                return
            path = Path(os.fsdecode(event.dest_path or event.src_path))
            if path.name != name:
                return  # the temporary file of an atomic save, or another file
            home = students / path.relative_to(students).parts[0]
            records: list[dict[str, Any]] = []
            with lock, log.open("a") as f:
                counts["events"] += 1
                if rebuild(home, notebook, out, seen, records):
                    counts["rebuilds"] += 1
                f.write("".join(json.dumps(r) + "\n" for r in records))

    observer = Observer()
    observer.schedule(Saved(), str(students), recursive=True)
    observer.start()
    with log.open("a") as f:
        f.write(json.dumps({"ready": time.time()}) + "\n")
    try:
        while time.time() < stop_at:
            time.sleep(min(0.5, max(0.0, stop_at - time.time())))
    finally:
        observer.stop()
        observer.join(10)
        with lock, log.open("a") as f:
            f.write(json.dumps({"pass": "inotify", **counts}) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="inotify-driven rebuild of tail pages")
    p.add_argument("--students", type=Path, required=True, help="one directory per student")
    p.add_argument("--notebook", required=True, help="notebook path inside each directory")
    p.add_argument("--out", type=Path, required=True, help="where the pages are written")
    p.add_argument("--log", type=Path, required=True, help="JSON lines of what was seen")
    p.add_argument("--start", type=float, required=True, help="epoch the class starts")
    p.add_argument("--stop-at", type=float, required=True, help="epoch: stop watching")
    a = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    warm_up()
    watch(a.students, a.notebook, a.out, a.log, a.stop_at)
    return 0


@contextmanager
def watcher(
    students: Path, notebook: str, work: Path, start: float, stop_at: float
) -> Iterator[PollerRun]:
    """Run the watcher in its own process until `stop_at` (epoch); stopped when the
    block ends. It watches from its start: start it before the class."""
    with launch("_storm.live_watcher", students, notebook, work, start, stop_at, []) as run:
        yield run


if __name__ == "__main__":
    sys.exit(main())
