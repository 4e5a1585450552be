"""coursehub.yaml validation: every bad value is named with its file, line and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursehub.config.loader import load_config, load_config_text
from coursehub.core.errors import ConfigError


def _problems(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "coursehub.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_empty_file_gives_every_default(tmp_path: Path) -> None:
    (tmp_path / "coursehub.yaml").write_text("")
    loaded = load_config(tmp_path / "coursehub.yaml")
    config = loaded.config
    assert config.site.port == 8000
    assert config.auth.methods == ["local"]
    assert config.spawn.backend == "local"
    # relative data_dir resolves next to the file, not the current directory
    assert config.site.data_dir == (tmp_path / "coursehub-data").resolve()


def test_unknown_key_is_named_with_line_and_suggestion(tmp_path: Path) -> None:
    problems = _problems("site:\n  name: x\nservers:\n  limits:\n    memroy: 2G\n", tmp_path)
    assert len(problems) == 1
    text = problems[0]
    assert "coursehub.yaml:5:" in text
    assert "servers.limits.memroy" in text
    assert "did you mean 'memory'" in text


def test_bad_values_each_reported_with_line_value_and_expectation(tmp_path: Path) -> None:
    problems = _problems(
        "site:\n"
        "  port: 99999\n"
        "auth:\n"
        "  method: ldap\n"
        "servers:\n"
        "  limits:\n"
        "    memory: two gigs\n"
        "  start_timeout: soon\n",
        tmp_path,
    )
    joined = "\n".join(problems)
    assert len(problems) == 4
    assert ":2: site.port: 99999:" in joined and "65535" in joined
    assert ":4: auth.method: 'ldap': expected one of 'local' or 'github'" in joined
    assert ":7: servers.limits.memory: 'two gigs': expected a size such as 512M" in joined
    assert ":8: servers.start_timeout: 'soon': expected a duration" in joined


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    problems = _problems("site:\n  name: [unclosed\nauth: {}\n", tmp_path)
    assert "not valid YAML" in problems[0]
    assert "coursehub.yaml:" in problems[0]


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    problems = _problems("- a\n- b\n", tmp_path)
    assert "expected a mapping" in problems[0]


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "coursehub init" in str(info.value)


def test_github_method_needs_its_section() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text("auth:\n  method: github\n")
    assert "needs an auth.github section" in str(info.value)


def test_capitalised_role_username_rejected() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text("roles:\n  admin: [Alice]\n")
    assert "'Alice' is not a valid username" in str(info.value)


def test_units_parse() -> None:
    config = load_config_text(
        "servers:\n  limits: {memory: 512M, file_size: 1.5G}\n  start_timeout: 2m\n"
        "idle: {timeout: 90}\n"
    ).config
    assert config.servers.limits.memory == 512 * 1024**2
    assert config.servers.limits.file_size == int(1.5 * 1024**3)
    assert config.servers.start_timeout == 120
    assert config.idle.timeout == 90


def test_boolean_is_not_a_size() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text("servers:\n  limits:\n    memory: true\n")
    assert "true/false" in str(info.value)


def test_postgres_url_accepted_other_schemes_rejected() -> None:
    ok = load_config_text("database:\n  url: postgresql://u@127.0.0.1/db\n")
    assert ok.config.database.url == "postgresql://u@127.0.0.1/db"
    with pytest.raises(ConfigError) as info:
        load_config_text("database:\n  url: mysql://u@h/db\n")
    assert "postgresql://" in str(info.value)


def test_frame_ancestors_must_be_sites_not_policy_fragments(tmp_path: Path) -> None:
    problems = _problems(
        "site:\n  frame_ancestors:\n    - https://lms.example.edu\n"
        '    - "https://x.edu; script-src *"\n',
        tmp_path,
    )
    assert len(problems) == 1 and "frame_ancestors" in problems[0], problems
    assert "expected https://host" in problems[0]
