"""On a real `coursehub up`: the service's metrics behind the hub's read:metrics scope,
JSON logs, and `coursehub doctor` seeing the running idle culler. One hub for all."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import hubproc
from tests.helpers.browserless import login

pytestmark = pytest.mark.root
USERS = {"sam": "sam-password-123"}
METRICS = "/services/coursehub/metrics"


@pytest.fixture(scope="module")
def site(
    site_folder: Callable[..., Path], start_hub: Callable[..., hubproc.RunningHub]
) -> tuple[hubproc.RunningHub, str]:
    base = site_folder("ops")
    prometheus_token = secrets.token_hex(32)
    token_file = base / "prometheus-token"
    token_file.write_text(prometheus_token)
    os.chmod(token_file, 0o600)
    extra = base / "jupyterhub_config.d"
    extra.mkdir()
    # docs/metrics.md's recipe: a token-only service with read:metrics and nothing else
    (extra / "prometheus.py").write_text(
        "from pathlib import Path\n"
        "c.JupyterHub.services.append({'name': 'prometheus', "
        f"'api_token': Path({str(token_file)!r}).read_text().strip()}})\n"
        "c.JupyterHub.load_roles.append({'name': 'prometheus', "
        "'scopes': ['read:metrics'], 'services': ['prometheus']})\n"
    )
    hub = start_hub(
        base,
        users=USERS,
        site_yaml="log_format: json\n",
        idle_yaml="timeout: 2h\n",
        extra_yaml="extra_config_dir: ./jupyterhub_config.d\n",
    )
    return hub, prometheus_token


def test_metrics_need_the_read_metrics_scope(site) -> None:
    hub, prometheus_token = site
    login(hub.url, "sam", USERS["sam"]).close()
    student = {"Authorization": f"Bearer {hub.user_token('sam')}"}
    prometheus = {"Authorization": f"Bearer {prometheus_token}"}
    httpx.get(hub.url + "/services/coursehub/api/whoami", headers=student, timeout=30)

    refused = httpx.get(hub.url + METRICS, headers=student, timeout=30)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert httpx.get(hub.url + METRICS, timeout=30).status_code == 401

    answer = httpx.get(hub.url + METRICS, headers=prometheus, timeout=30)
    assert answer.status_code == 200, answer.text
    names = {f.name for f in text_string_to_metric_families(answer.text)}
    assert {"coursehub_http_requests", "coursehub_grading_runs", "coursehub_lms_grades"} <= names
    assert 'route="/api/whoami"' in answer.text and '"sam"' not in answer.text
    # the same token reads JupyterHub's own metrics, as docs/metrics.md says
    hub_metrics = httpx.get(hub.url + "/hub/metrics", headers=prometheus, timeout=30)
    assert hub_metrics.status_code == 200
    assert "jupyterhub_server_spawn_duration_seconds" in hub_metrics.text


def test_up_logs_one_json_object_per_line_without_tokens(site) -> None:
    hub, prometheus_token = site
    assert hub.log is not None
    lines = [line for line in hub.log.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    components = {e.get("component") for e in entries}
    assert {"hub", "up"} <= components
    service = [e for e in entries if str(e.get("logger", "")).startswith("coursehub.service")]
    assert service and all({"time", "level", "message"} <= set(e) for e in service)
    assert prometheus_token not in hub.log.read_text()


def test_doctor_sees_the_running_culler(site) -> None:
    hub, _ = site
    result = hub.cli("doctor")
    assert "culler running: idle-culler is running (pid" in result.stdout, result.stdout
    assert "culling: idle servers stop after 2h" in result.stdout
    assert "backups: no schedule" in result.stdout
