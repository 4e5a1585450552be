"""Backups of a site on disk (no hub): what goes in, checksums, tampering, retention."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from coursehub.backups.create import (
    PARTIAL,
    BackupError,
    BackupInvalid,
    BackupSources,
    backup_time,
    list_backups,
    prune_backups,
    take_backup,
)
from coursehub.backups.restore import restore_backup, verify_backup
from coursehub.cli.main import main as cli_main
from coursehub.config.loader import load_config
from coursehub.config.service_sections import BackupSection
from coursehub.config.translate.services import backup_environment
from coursehub.service.tasks.backups import (
    run_once,
    seconds_until_due,
    start_backup_schedule,
)
from tests.helpers.postgres import throwaway_database


def _db(path: Path, rows: list[str]) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (v TEXT)")
    con.executemany("INSERT INTO t VALUES (?)", [(r,) for r in rows])
    con.commit()
    con.close()


def _rows(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return [r[0] for r in con.execute("SELECT v FROM t ORDER BY v")]
    finally:
        con.close()


@pytest.fixture
def site(tmp_path: Path) -> BackupSources:
    data = tmp_path / "site" / "data"
    (data / "secrets").mkdir(parents=True, mode=0o700)
    secret = data / "secrets" / "cookie_secret"
    secret.write_text("s" * 64)
    os.chmod(secret, 0o600)
    (data / "courses" / "stats" / "repo").mkdir(parents=True)
    (data / "courses" / "stats" / "repo" / "intro.ipynb").write_text("{}")
    (data / "runtime").mkdir()
    (data / "runtime" / "ports.json").write_text("{}")
    (data / "runtime" / "jupyterhub.pid").write_text("1")
    (data / "logs").mkdir()
    (data / "logs" / "hub.log").write_text("log line")
    _db(data / "coursehub.sqlite", ["alice", "bob"])
    _db(data / "jupyterhub.sqlite", ["hub"])
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(data / "runtime" / "kernel.sock"))
    sock.close()
    homes = tmp_path / "homes"
    ws = homes / "ch-alice" / "courses" / "stats"
    ws.mkdir(parents=True)
    (ws / "intro.ipynb").write_text("alice's work")
    os.symlink("/data/shared", ws / "shared")
    (homes / "ch-alice" / ".cache").mkdir()
    (homes / "ch-alice" / ".cache" / "big").write_text("x")
    (homes / "other").mkdir()
    roster = tmp_path / "site" / "roster.csv"
    roster.write_text("username,role\nalice,student\n")
    os.chmod(roster, 0o600)
    config = tmp_path / "site" / "coursehub.yaml"
    config.write_text(
        f"site:\n  name: T\n  port: 8123\n  data_dir: {data}\nroster:\n  file: ./roster.csv\n"
        f"spawn:\n  local:\n    home_root: {homes}\n"
    )
    return BackupSources(
        data_dir=data,
        config_file=config,
        roster_file=roster,
        home_root=homes,
        user_prefix="ch-",
    )


@pytest.fixture
def taken(site: BackupSources, tmp_path: Path) -> Path:
    return take_backup(site, tmp_path / "backups")


def _paths(backup: Path) -> set[str]:
    return {e["path"] for e in json.loads((backup / "manifest.json").read_text())["entries"]}


def test_backup_holds_databases_files_config_and_homes(taken: Path) -> None:
    paths = _paths(taken)
    assert {"db/coursehub.sqlite", "db/jupyterhub.sqlite"} <= paths
    assert "data/courses/stats/repo/intro.ipynb" in paths
    assert "homes/ch-alice/courses/stats/intro.ipynb" in paths
    assert "homes/ch-alice/courses/stats/shared" in paths  # the link, not what it points to
    assert "config/config_file-coursehub.yaml" in paths
    assert "config/roster-roster.csv" in paths
    left_out = {
        "data/coursehub.sqlite",
        "data/runtime/ports.json",
        "data/runtime/jupyterhub.pid",
        "data/runtime/kernel.sock",
        "data/logs",
        "homes/ch-alice/.cache",
        "homes/other",
    }
    assert not paths & left_out
    assert _rows(taken / "db" / "coursehub.sqlite") == ["alice", "bob"]
    assert stat.S_IMODE(taken.stat().st_mode) == 0o700
    secret = taken / "data" / "secrets" / "cookie_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert not list(taken.parent.glob("*" + PARTIAL))


def test_manifest_records_size_checksum_mode_and_owner(taken: Path) -> None:
    manifest = json.loads((taken / "manifest.json").read_text())
    assert manifest["format"] == 1 and manifest["database"]["kind"] == "sqlite"
    assert manifest["created_at"] and manifest["coursehub_version"]
    entry = next(e for e in manifest["entries"] if e["path"].endswith("cookie_secret"))
    assert entry["size"] == 64 and entry["mode"] == 0o600 and len(entry["sha256"]) == 64
    assert entry["uid"] == os.getuid() and entry["user"]


def test_logs_only_when_asked(site: BackupSources, tmp_path: Path) -> None:
    sources = BackupSources(**{**site.__dict__, "with_logs": True})
    assert "data/logs/hub.log" in _paths(take_backup(sources, tmp_path / "b"))


def test_restore_round_trip(taken: Path, tmp_path: Path) -> None:
    new = tmp_path / "new" / "data"
    homes = tmp_path / "new-homes"
    result = restore_backup(taken, new, home_root=homes)
    assert _rows(new / "coursehub.sqlite") == ["alice", "bob"]
    assert _rows(new / "jupyterhub.sqlite") == ["hub"]
    assert (new / "courses" / "stats" / "repo" / "intro.ipynb").read_text() == "{}"
    assert stat.S_IMODE((new / "secrets" / "cookie_secret").stat().st_mode) == 0o600
    assert stat.S_IMODE((new / "secrets").stat().st_mode) == 0o700
    work = homes / "ch-alice" / "courses" / "stats"
    assert (work / "intro.ipynb").read_text() == "alice's work"
    assert os.readlink(work / "shared") == "/data/shared"
    config = yaml.safe_load(result.config_file.read_text())
    assert config["site"]["data_dir"] == str(new) and config["site"]["port"] == 8123
    assert config["spawn"]["local"]["home_root"] == str(homes)
    assert Path(config["roster"]["file"]).read_text() == "username,role\nalice,student\n"
    assert not (new / "runtime" / "ports.json").exists()


def test_restore_refuses_a_non_empty_target(taken: Path, tmp_path: Path) -> None:
    new = tmp_path / "busy"
    new.mkdir()
    (new / "something").write_text("x")
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(taken, new, home_root=tmp_path / "h")


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "bad", "reason"),
    [
        (
            lambda b: _flip_byte(b / "homes/ch-alice/courses/stats/intro.ipynb"),
            "homes/ch-alice/courses/stats/intro.ipynb",
            "checksum differs",
        ),
        (
            lambda b: (b / "db/coursehub.sqlite").write_bytes(
                (b / "db/coursehub.sqlite").read_bytes()[:100]
            ),
            "db/coursehub.sqlite",
            "truncated",
        ),
        (
            lambda b: (b / "data/courses/stats/repo/intro.ipynb").unlink(),
            "data/courses/stats/repo/intro.ipynb",
            "missing",
        ),
        (
            lambda b: (b / "data/courses/stats/repo/extra.py").write_text("import os"),
            "data/courses/stats/repo/extra.py",
            "not in the manifest",
        ),
        (
            lambda b: (b / "manifest.json").write_text(
                (b / "manifest.json").read_text().replace('"mode": 384', '"mode": 420', 1)
            ),
            "manifest.json",
            "does not match manifest.sha256",
        ),
        (lambda b: (b / "manifest.sha256").unlink(), "manifest.sha256", "missing"),
    ],
    ids=["byte-changed", "truncated", "file-removed", "file-added", "manifest-edited", "no-sum"],
)
def test_damaged_backup_is_refused_and_nothing_written(
    taken: Path,
    tmp_path: Path,
    damage,
    bad: str,
    reason: str,  # noqa: ANN001
) -> None:
    damage(taken)
    new = tmp_path / "new" / "data"
    with pytest.raises(BackupInvalid, match=reason) as caught:
        restore_backup(taken, new, home_root=tmp_path / "new-homes")
    assert caught.value.path == bad
    assert str(caught.value).startswith(f"backup refused: {bad}: ")
    assert not (tmp_path / "new").exists() and not (tmp_path / "new-homes").exists()


def test_cli_refuses_a_tampered_backup_with_exit_code_2(
    taken: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _flip_byte(taken / "data" / "secrets" / "cookie_secret")
    code = cli_main(["restore", str(taken), "--data-dir", str(tmp_path / "n")])
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "data/secrets/cookie_secret: checksum differs" in err
    assert not (tmp_path / "n").exists()


def test_manifest_with_a_path_outside_is_refused(taken: Path) -> None:
    manifest = json.loads((taken / "manifest.json").read_text())
    manifest["entries"].append({"path": "data/../../etc/passwd", "type": "file"})
    text = json.dumps(manifest).encode()
    (taken / "manifest.json").write_bytes(text)
    import hashlib

    (taken / "manifest.sha256").write_text(hashlib.sha256(text).hexdigest() + "\n")
    with pytest.raises(BackupInvalid, match="unsafe path"):
        verify_backup(taken)


def test_partial_backups_are_ignored_and_refused(taken: Path) -> None:
    partial = taken.parent / (taken.name + "-9" + PARTIAL)
    partial.mkdir()
    assert list_backups(taken.parent) == [taken]
    with pytest.raises(BackupInvalid, match="unfinished"):
        verify_backup(partial)


def test_retention_keeps_the_newest(site: BackupSources, tmp_path: Path) -> None:
    dest = tmp_path / "many"
    made = [take_backup(site, dest) for _ in range(4)]
    assert list_backups(dest) == made
    removed = prune_backups(dest, keep=2)
    assert removed == made[:2]
    assert list_backups(dest) == made[2:]
    assert sorted(p.name for p in dest.iterdir()) == [p.name for p in made[2:]]


def test_schedule_is_due_every_interval_after_the_newest_backup(
    site: BackupSources, tmp_path: Path
) -> None:
    dest = tmp_path / "scheduled"
    assert seconds_until_due(dest, 3600) == 0  # none yet: now
    newest = take_backup(site, dest)
    taken_at = backup_time(newest)
    assert seconds_until_due(dest, 3600, taken_at + timedelta(minutes=20)) == 2400
    assert seconds_until_due(dest, 3600, taken_at + timedelta(hours=2)) == 0


def test_scheduled_run_backs_up_the_configured_site_and_keeps_n(
    site: BackupSources, tmp_path: Path
) -> None:
    assert site.config_file is not None
    dest = tmp_path / "scheduled"
    text = site.config_file.read_text() + f"backup:\n  dir: {dest}\n  every: 6h\n  keep: 2\n"
    site.config_file.write_text(text)
    env = backup_environment(load_config(site.config_file))
    settings = json.loads(env["COURSEHUB_BACKUP"])
    assert settings == {
        "dir": str(dest),
        "every_seconds": 6 * 3600,
        "keep": 2,
        "config_file": str(site.config_file),
    }
    made = [run_once(site.config_file, dest, keep=2)[0] for _ in range(3)]
    assert list_backups(dest) == made[1:]
    assert "data/courses/stats/repo/intro.ipynb" in _paths(made[-1])
    assert "config/roster-roster.csv" in _paths(made[-1])
    if os.geteuid() == 0:  # the local backend's homes (without root: demo mode)
        assert "homes/ch-alice/courses/stats/intro.ipynb" in _paths(made[-1])


def test_no_schedule_without_a_backup_dir(site: BackupSources) -> None:
    assert site.config_file is not None
    assert backup_environment(load_config(site.config_file)) == {}
    assert start_backup_schedule(None) == []


@pytest.fixture
def two_postgres_databases() -> Iterator[tuple[str, str]]:
    for source in throwaway_database("coursehub_bk"):
        for target in throwaway_database("coursehub_rs"):
            yield source, target


def test_postgresql_site_is_dumped_and_restored_into_an_empty_database(
    site: BackupSources, tmp_path: Path, two_postgres_databases: tuple[str, str]
) -> None:
    from sqlalchemy import create_engine, text

    source, target = two_postgres_databases
    engine = create_engine(source)
    with engine.begin() as con:
        con.execute(text("CREATE TABLE accounts (name TEXT)"))
        con.execute(text("INSERT INTO accounts VALUES ('alice'), ('bob')"))
    engine.dispose()
    sources = BackupSources(**{**site.__dict__, "database_url": source})
    taken = take_backup(sources, tmp_path / "pg")
    assert "db/postgresql.dump" in _paths(taken) and "db/coursehub.sqlite" not in _paths(taken)
    new = tmp_path / "new" / "data"
    with pytest.raises(BackupError, match="already has tables"):
        restore_backup(taken, new, home_root=tmp_path / "h", database_url=source)
    assert not new.exists()
    result = restore_backup(taken, new, home_root=tmp_path / "h", database_url=target)
    engine = create_engine(target)
    with engine.connect() as con:
        names = [r[0] for r in con.execute(text("SELECT name FROM accounts ORDER BY name"))]
    engine.dispose()
    assert names == ["alice", "bob"]
    assert yaml.safe_load(result.config_file.read_text())["database"]["url"] == target


def test_restore_never_writes_through_a_symlink(taken: Path, tmp_path: Path) -> None:
    """A forged backup (manifest and sum rewritten) with a directory under a link to a
    directory elsewhere: restore must not change that directory's mode or owner."""
    import hashlib

    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    os.chmod(victim / "sub", 0o755)
    os.symlink(victim, taken / "homes" / "ch-alice" / "escape")
    manifest = json.loads((taken / "manifest.json").read_text())
    base = {"uid": 0, "gid": 0, "user": None, "group": None, "mtime": 0}
    manifest["entries"] += [
        {**base, "path": "homes/ch-alice/escape", "type": "symlink", "mode": 0o777,
         "target": str(victim), "sha256": hashlib.sha256(str(victim).encode()).hexdigest()},
        {**base, "path": "homes/ch-alice/escape/sub", "type": "dir", "mode": 0o777},
    ]  # fmt: skip
    text = json.dumps(manifest).encode()
    (taken / "manifest.json").write_bytes(text)
    (taken / "manifest.sha256").write_text(hashlib.sha256(text).hexdigest() + "\n")
    with pytest.raises(BackupError, match="is not a directory"):
        restore_backup(taken, tmp_path / "new" / "data", home_root=tmp_path / "h")
    assert stat.S_IMODE((victim / "sub").stat().st_mode) == 0o755


def test_the_service_loop_takes_the_first_backup_at_once(
    site: BackupSources, tmp_path: Path
) -> None:
    import asyncio

    dest = tmp_path / "loop"

    async def scenario() -> list[Path]:
        schedule = BackupSection(dir=dest, every_seconds=3600, keep=2, config_file=site.config_file)
        (task,) = start_backup_schedule(schedule)
        try:
            while not list_backups(dest):  # polled; the test's timeout bounds it
                assert not task.done(), task
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return list_backups(dest)

    (first,) = asyncio.run(scenario())
    assert "data/secrets/cookie_secret" in _paths(first)
