"""Structured logs: one JSON object per line, extra fields kept, credentials never."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from coursehub.config.loader import load_config
from coursehub.core.errors import ConfigError
from coursehub.core.logs import JsonFormatter, make_formatter, wrap_line


def _logged(**kwargs) -> dict:  # noqa: ANN003
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("coursehub.test.logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        if kwargs.pop("exception", False):
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("it failed for %s", "sam", **kwargs)
        else:
            logger.warning("opened %s\nnext line", "w1/intro.ipynb", **kwargs)
    finally:
        logger.handlers[:] = []
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1  # a message with a newline is still one line
    return json.loads(lines[0])


def test_a_record_is_one_json_object_with_its_extra_fields() -> None:
    entry = _logged(extra={"course": "algebra", "events": 3, "paths": ("a", "b")})
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "coursehub.test.logs"
    assert entry["message"] == "opened w1/intro.ipynb\nnext line"
    assert entry["time"].endswith("+00:00")
    assert entry["course"] == "algebra" and entry["events"] == 3 and entry["paths"] == ["a", "b"]
    assert "args" not in entry and "msg" not in entry


def test_credential_fields_are_never_written() -> None:
    secret = "hub-token-0123456789abcdef"
    entry = _logged(
        extra={
            "api_token": secret,
            "Authorization": f"Bearer {secret}",
            "headers": {"cookie": secret, "accept": "text/html"},
            "client_secret": secret,
        }
    )
    assert secret not in json.dumps(entry)
    assert entry["api_token"] == "[secret]" and entry["headers"]["accept"] == "text/html"


def test_exceptions_are_kept_inside_the_object() -> None:
    entry = _logged(exception=True)
    assert entry["level"] == "ERROR" and "ValueError: boom" in entry["exception"]


def test_other_processes_lines_are_wrapped_or_kept() -> None:
    hub = json.loads(wrap_line("hub", "[W 2024-01-01 10:00:00.000 JupyterHub app:1] slow"))
    assert hub["level"] == "WARNING" and hub["component"] == "hub"
    assert hub["message"].endswith("] slow")
    service = json.dumps({"level": "INFO", "logger": "coursehub.service", "message": "hi"})
    kept = json.loads(wrap_line("hub", service))
    assert kept["logger"] == "coursehub.service" and kept["message"] == "hi"
    assert json.loads(wrap_line("proxy", "{not json"))["message"] == "{not json"


def test_unknown_formats_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make_formatter("xml")
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text("site:\n  log_format: xml\n")
    with pytest.raises(ConfigError) as caught:
        load_config(cfg)
    assert "log_format" in str(caught.value)
    cfg.write_text("site:\n  log_format: json\n")
    assert load_config(cfg).config.site.log_format == "json"


def test_the_service_logs_json_lines_when_the_site_asks(tmp_path: Path) -> None:
    from coursehub.config.layout import DataLayout, Ports
    from coursehub.config.translate.jupyterhub import HubSecrets, Machine, translate

    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text("site:\n  log_format: json\n")
    config = load_config(cfg).config
    hub = translate(
        config,
        DataLayout(config.site.data_dir),
        Ports(hub=18081, proxy_api=18001, service=18090),
        HubSecrets("p", "s", "c"),
        Machine(python=sys.executable, cpu_count=2),
    )
    (service,) = [s for s in hub["JupyterHub"]["services"] if s["name"] == "coursehub"]
    assert service["environment"]["COURSEHUB_LOG_FORMAT"] == "json"

    # The service's own logging set-up, in a process of its own (it owns the root logger).
    code = (
        "import logging; from coursehub.service.__main__ import configure_logging; "
        "configure_logging(fmt='json'); "
        "logging.getLogger('coursehub.service').info('up on %s', 'port 1', "
        "extra={'api_token': 'hub-secret-value', 'course': 'algebra'})"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    (line,) = run.stderr.splitlines()
    entry = json.loads(line)
    assert entry["message"] == "up on port 1" and entry["course"] == "algebra"
    assert "hub-secret-value" not in line


def test_the_service_refuses_an_unknown_log_format() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "COURSEHUB_LOG_FORMAT": "yaml",
        "JUPYTERHUB_API_TOKEN": "t" * 32,
        "JUPYTERHUB_CLIENT_ID": "service-coursehub",
    }
    run = subprocess.run(
        [sys.executable, "-m", "coursehub.service"], env=env, capture_output=True, text=True
    )
    assert run.returncode == 2 and "COURSEHUB_LOG_FORMAT='yaml'" in run.stderr
