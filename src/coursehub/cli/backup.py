"""`coursehub backup DEST` and `coursehub restore SRC --data-dir DIR`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from coursehub.backups.create import BackupSources, prune_backups, take_backup
from coursehub.backups.restore import restore_backup
from coursehub.config.loader import LoadedConfig


def add_parser(sub: Any) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """Add `backup` and `restore`; the caller sets each one's func."""
    b = sub.add_parser("backup", help="take a consistent backup while the site runs")
    b.add_argument("dest", type=Path, help="folder that receives a new <timestamp> backup")
    b.add_argument("--with-logs", action="store_true", help="include the logs folder")
    b.add_argument(
        "--keep", type=int, default=0, help="then keep only this many newest backups in DEST"
    )
    r = sub.add_parser("restore", help="check a backup, then restore it into a new data dir")
    r.add_argument("src", type=Path, help="a backup folder (DEST/<timestamp>)")
    r.add_argument("--data-dir", type=Path, required=True, help="new, empty data directory")
    r.add_argument(
        "--config-out",
        type=Path,
        default=None,
        help="where to write the restored coursehub.yaml (default: beside the data dir)",
    )
    r.add_argument(
        "--home-root", type=Path, default=None, help="restore student homes here instead"
    )
    r.add_argument("--database-url", default=None, help="empty PostgreSQL database to restore into")
    return b, r


def run_backup(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    sources = BackupSources.from_config(loaded, with_logs=args.with_logs)
    path = take_backup(sources, args.dest)
    console.print(f"Backup written to {path}", markup=False)
    if args.keep > 0:
        for old in prune_backups(args.dest, args.keep):
            console.print(f"Removed old backup {old}", markup=False)
    return 0


def run_restore(args: argparse.Namespace, console: Console) -> int:
    result = restore_backup(
        args.src,
        args.data_dir,
        config_out=args.config_out,
        home_root=args.home_root,
        database_url=args.database_url,
    )
    console.print(f"Checked every file of {args.src}: all checksums match.", markup=False)
    console.print(f"Restored {result.files} files into {result.data_dir}", markup=False)
    for note in result.notes:
        console.print(f"[yellow]Note[/yellow]: {note}")
    console.print(f"Next: coursehub --config {result.config_file} up", markup=False)
    return 0
