"""`coursehub doctor`'s security report: HTTPS, database file modes, logs."""

from __future__ import annotations

import os
from pathlib import Path

from coursehub.config.layout import DataLayout
from coursehub.config.loader import load_config_text
from coursehub.config.models import CoursehubConfig
from coursehub.ops import doctor
from coursehub.ops.doctor_security import (
    anchor_folders_check,
    database_files_check,
    https_check,
    link_protection_check,
    logs_check,
)


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


def test_a_data_dir_below_a_folder_others_may_write_fails(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # no sticky bit: anyone may rename what is inside
    config = load_config_text(f"site:\n  data_dir: {shared / 'data'}\n").config
    check = anchor_folders_check(config, DataLayout(config.site.data_dir))
    assert check.status == "fail" and str(shared) in check.detail
    os.chmod(shared, 0o755)
    assert anchor_folders_check(config, DataLayout(config.site.data_dir)).status == "ok"


def test_link_protections_off_are_a_warning_naming_the_sysctl(tmp_path: Path) -> None:
    for name, value in (("protected_symlinks", "0"), ("protected_hardlinks", "1")):
        (tmp_path / name).write_text(value + "\n")
    (tmp_path / "protected_regular").write_text("2\n")
    check = link_protection_check(tmp_path)
    assert check.status == "warn" and check.fix.startswith("sysctl -w fs.protected_symlinks=1")
    assert "hardlinks" not in check.detail
    (tmp_path / "protected_symlinks").write_text("1\n")
    assert link_protection_check(tmp_path).status == "ok"
