"""`coursehub doctor` on culling, start-up hooks, backups and metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from coursehub.config.layout import DataLayout
from coursehub.config.loader import load_config_text
from coursehub.config.models import BackupConfig
from coursehub.engines.hub_api import HubClient
from coursehub.ops import doctor
from coursehub.ops.doctor_ops import (
    _translated_services,
    backup_check,
    culler_running,
    culling_checks,
    hooks_check,
)

requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="hook ownership needs root")


def _config(text: str, tmp_path: Path):  # noqa: ANN202
    return load_config_text(text + f"site:\n  data_dir: {tmp_path / 'data'}\n").config


def _checks(config, hub=None) -> dict:  # noqa: ANN001
    services = _translated_services(config, DataLayout(config.site.data_dir))
    return {c.name: c for c in culling_checks(config, services, hub)}


def test_culling_configured_and_in_the_hub_configuration(tmp_path: Path) -> None:
    config = _config(
        "idle:\n  timeout: 30m\n  max_age: 8h\n  courses: {exam: {timeout: 3h}}\n", tmp_path
    )
    checks = _checks(config)
    assert checks["culling"].status == "ok"
    assert "30m" in checks["culling"].detail and "8h" in checks["culling"].detail
    assert "exam" in checks["culling"].detail
    assert checks["culler service"].status == "ok"
    assert "culler running" not in checks  # no hub running: not asked


def test_culling_turned_off_is_a_warning_with_its_fix(tmp_path: Path) -> None:
    checks = _checks(_config("idle:\n  timeout: 0\n", tmp_path))
    assert checks["culling"].status == "warn" and "idle.timeout" in checks["culling"].fix
    assert "culler service" not in checks


def test_culling_for_one_course_only_is_on(tmp_path: Path) -> None:
    checks = _checks(_config("idle:\n  timeout: 0\n  courses: {exam: {timeout: 2h}}\n", tmp_path))
    assert checks["culling"].status == "ok"
    assert "no idle timeout" in checks["culling"].detail and "exam" in checks["culling"].detail
    assert checks["culler service"].status == "ok"


def test_a_missing_culler_in_the_hub_configuration_fails(tmp_path: Path) -> None:
    config = _config("", tmp_path)
    checks = {c.name: c for c in culling_checks(config, [{"name": "coursehub"}], None)}
    assert checks["culler service"].status == "fail"


def _hub(answer: httpx.Response) -> HubClient:
    # The hub's REST API answers through a transport here: starting a real hub for
    # one GET is left to the integration tests of culling.
    hub = HubClient("http://hub.invalid/hub/api", "token")
    hub._client = httpx.Client(transport=httpx.MockTransport(lambda request: answer))
    return hub


def test_the_running_hubs_culler_is_checked_by_its_process() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        check = culler_running(
            _hub(httpx.Response(200, json={"name": "idle-culler", "pid": sleeper.pid}))
        )
        assert check.status == "ok" and str(sleeper.pid) in check.detail
    finally:
        sleeper.kill()
        sleeper.wait()
    check = culler_running(
        _hub(httpx.Response(200, json={"name": "idle-culler", "pid": sleeper.pid}))
    )
    assert check.status == "fail"
    assert culler_running(_hub(httpx.Response(200, json={"pid": 0}))).status == "fail"
    missing = culler_running(_hub(httpx.Response(404, json={})))
    assert missing.status == "fail" and missing.fix == "coursehub restart"
    assert culler_running(_hub(httpx.Response(403, json={}))).status == "warn"


def _script(path: Path, mode: int = 0o755) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    path.write_text("#!/bin/sh\ntrue\n")
    path.chmod(mode)


@requires_root
def test_hooks_pass_the_same_safety_check_as_a_server_start(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    assert hooks_check(None).status == "info"
    missing = hooks_check(hooks)
    assert missing.status == "fail" and "mkdir" in missing.fix
    hooks.mkdir(mode=0o755)
    assert hooks_check(hooks).status == "ok"
    _script(hooks / "site" / "as-root")
    _script(hooks / "algebra" / "as-user")
    ok = hooks_check(hooks)
    assert ok.status == "ok" and "site/as-root" in ok.detail and "algebra/as-user" in ok.detail

    (hooks / "algebra" / "as-user").chmod(0o644)
    check = hooks_check(hooks)
    assert check.status == "fail" and "not executable" in check.detail
    (hooks / "algebra" / "as-user").chmod(0o755)

    (hooks / "algebra").chmod(0o775)
    check = hooks_check(hooks)
    assert check.status == "fail" and "writable by others" in check.detail
    assert "chmod -R go-w" in check.fix
    (hooks / "algebra").chmod(0o755)

    os.chown(hooks / "site" / "as-root", 65534, 65534)
    check = hooks_check(hooks)
    assert check.status == "fail" and "not owned by root" in check.detail


def _backup(folder: Path, when: datetime, complete: bool = True) -> None:
    path = folder / when.strftime("%Y%m%dT%H%M%SZ")
    path.mkdir(parents=True)
    if complete:
        (path / "manifest.sha256").write_text("")


def test_backup_freshness(tmp_path: Path) -> None:
    now = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    assert backup_check(BackupConfig()).status == "info"
    folder = tmp_path / "backups"
    config = BackupConfig(dir=folder, max_age_warning="2d")
    none = backup_check(config, now)
    assert none.status == "warn" and f"coursehub backup {folder}" in none.fix

    _backup(folder, now - timedelta(days=3))
    _backup(folder, now - timedelta(hours=1), complete=False)  # unfinished: not counted
    stale = backup_check(config, now)
    assert stale.status == "warn" and "3.0 days" in stale.detail and "2d" in stale.detail

    _backup(folder, now - timedelta(hours=5))
    fresh = backup_check(config, now)
    assert fresh.status == "ok" and "5.0 hours" in fresh.detail


def test_doctor_reports_ops_checks_and_info_lines(tmp_path: Path) -> None:
    from rich.console import Console

    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text(f"site:\n  data_dir: {tmp_path / 'data'}\nmetrics:\n  enabled: false\n")
    checks = {c.name: c for c in doctor.run_checks(cfg)}
    assert checks["backups"].status == "info" and "no schedule" in checks["backups"].detail
    assert checks["metrics"].status == "info"
    assert checks["start-up hooks"].status == "info"
    assert checks["culling"].status == "ok"
    console = Console(record=True, width=200)
    doctor.print_report(list(checks.values()), console)
    assert "info backups: no schedule" in console.export_text()


def test_the_server_template_check_says_how_servers_start(tmp_path: Path) -> None:
    from coursehub.ops.doctor_templates import server_template_check

    cold = _config("servers:\n  start: cold\n", tmp_path)
    layout = DataLayout(cold.site.data_dir)
    assert server_template_check(cold, layout).status == "info"
    forked = _config("", tmp_path)
    check = server_template_check(forked, layout)
    assert check.status == "info" and "starts with the hub" in check.detail
    # `coursehub up` runs but nothing answers on the socket: servers start cold.
    layout.runtime.mkdir(parents=True)
    layout.up_pid_file.write_text(str(os.getpid()))
    check = server_template_check(forked, layout)
    assert check.status == "warn" and "does not answer" in check.detail
    assert "server-template.log" in check.fix


def test_the_kernel_templates_check_names_the_courses_that_start_cold(tmp_path: Path) -> None:
    from coursehub.courses.build import env_dir
    from coursehub.courses.environment import STAMP_NAME
    from coursehub.ops.doctor_templates import kernel_templates_check

    forked = _config("", tmp_path)
    layout = DataLayout(forked.site.data_dir)
    check = kernel_templates_check(forked, layout)
    assert check.status == "info" and "no course has a built environment" in check.detail
    # a built environment (as far as the check can tell: stamp and an interpreter)
    env = env_dir(layout, "algebra")
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").symlink_to(sys.executable)
    (env / STAMP_NAME).write_text("built\n")
    assert kernel_templates_check(forked, layout).status == "info"  # hub not up
    layout.runtime.mkdir(parents=True)
    layout.up_pid_file.write_text(str(os.getpid()))
    check = kernel_templates_check(forked, layout)
    assert check.status == "warn", check
    assert "algebra: not answering" in check.detail and "start cold" in check.detail
    assert "kernel-templates" in check.fix
    cold = _config("servers:\n  start: cold\n", tmp_path)
    assert kernel_templates_check(cold, layout).status == "info"


def test_doctor_says_whether_student_code_can_run_on_the_hubs_origin(tmp_path: Path) -> None:
    from coursehub.ops.doctor_origin import subdomains_check

    off = subdomains_check(_config("", tmp_path))
    assert off.status == "warn" and "Help is read-only" in off.detail
    assert "site.user_subdomains: true" in off.fix

    def site(url: str):  # noqa: ANN202
        text = f"site:\n  public_url: {url}\n  user_subdomains: true\n  data_dir: {tmp_path}\n"
        return load_config_text(text).config

    on = subdomains_check(site("https://hub.example.edu"))
    assert on.status == "ok" and "<user>.hub.example.edu" in on.detail
    assert subdomains_check(site("http://localhost:8000")).status == "ok"  # a trial
    clear = subdomains_check(site("http://hub.example.edu"))
    assert clear.status == "warn" and "https" in clear.fix
