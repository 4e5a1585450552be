"""`coursehub doctor`'s security report: HTTPS, database file modes, logs."""

from __future__ import annotations

import os
from pathlib import Path

from coursehub.config.layout import DataLayout
from coursehub.config.loader import load_config_text
from coursehub.config.models import CoursehubConfig
from coursehub.ops import doctor
from coursehub.ops.doctor_security import database_files_check, https_check, logs_check


def _config(text: str, tmp_path: Path) -> CoursehubConfig:
    return load_config_text(f"site:\n  data_dir: {tmp_path / 'data'}\n" + text).config


def test_plain_http_to_other_machines_is_a_warning_with_its_fix(tmp_path: Path) -> None:
    exposed = https_check(
        _config("  bind_address: 0.0.0.0\n  public_url: http://hub.example.edu\n", tmp_path)
    )
    assert exposed.status == "warn" and "in clear" in exposed.detail
    assert "https://" in exposed.fix
    local = https_check(_config("", tmp_path))
    assert local.status == "info" and "loopback" in local.detail
    secure = https_check(_config("  public_url: https://hub.example.edu\n", tmp_path))
    assert secure.status == "ok"


def test_a_readable_database_file_fails_and_names_the_file(tmp_path: Path) -> None:
    config = _config("", tmp_path)
    layout = DataLayout(config.site.data_dir)
    layout.root.mkdir()
    assert database_files_check(config, layout).status == "ok"  # created private later
    layout.coursehub_db_file.write_text("")
    os.chmod(layout.coursehub_db_file, 0o600)
    wal = Path(f"{layout.hub_db_file}-wal")
    wal.write_text("")
    os.chmod(wal, 0o644)
    check = database_files_check(config, layout)
    assert check.status == "fail" and str(wal) in check.detail
    assert str(layout.coursehub_db_file) + " " not in check.detail + " "
    assert check.fix.startswith(f"chmod 600 {wal}")
    os.chmod(wal, 0o600)
    assert database_files_check(config, layout).status == "ok"


def test_postgresql_has_no_database_file_to_check(tmp_path: Path) -> None:
    config = _config("database:\n  url: postgresql://db.example.edu/hub\n", tmp_path)
    check = database_files_check(config, DataLayout(config.site.data_dir))
    assert check.status == "ok" and "PostgreSQL" in check.detail


def test_logs_readable_by_others_are_a_warning(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path / "data")
    (layout.server_logs).mkdir(parents=True, mode=0o700)
    os.chmod(layout.logs, 0o700)
    log = layout.server_logs / "alice.log"
    log.write_text("GET /user/alice/api/contents\n")
    os.chmod(log, 0o600)
    assert logs_check(layout).status == "ok"
    os.chmod(log, 0o644)
    check = logs_check(layout)
    assert check.status == "warn" and str(log) in check.detail


def test_the_security_report_is_part_of_doctor(tmp_path: Path) -> None:
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text(f"site:\n  data_dir: {tmp_path / 'data'}\n")
    names = {c.name for c in doctor.run_checks(cfg)}
    assert {"https", "database files", "database", "logs"} <= names
