"""coursehub.yaml for the Slurm backend (spawn.slurm and courses.settings.<course>.slurm)
and what it becomes in JupyterHub's settings; nothing runs, no cluster is needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from coursehub.config.layout import DataLayout, Ports
from coursehub.config.loader import load_config, load_config_text
from coursehub.config.models import CoursehubConfig
from coursehub.config.translate.jupyterhub import (
    SLURM_AUTO_STARTS,
    HubSecrets,
    Machine,
    concurrent_starts,
    forks_here,
    hub_address,
    translate,
)
from coursehub.core.errors import ConfigError

PORTS = Ports(hub=18081, proxy_api=18001, service=18090)
SECRETS = HubSecrets("proxy-secret", "service-secret", "cli-secret")
# Fewer cores than SLURM_AUTO_STARTS, so "auto" tells the two apart.
MACHINE = Machine(python="/venv/bin/python", cpu_count=3)

SITE = """\
site: {bind_address: 0.0.0.0, port: 8443}
spawn:
  backend: slurm
  local: {user_prefix: stu-, home_root: /srv/homes, shell: /bin/zsh}
  slurm:
    hub_address: 10.0.0.5
    server_ip: 0.0.0.0
    partition: teaching,spare
    account: ds
    qos: normal
    time: 8h
    conf: /etc/slurm/cluster.conf
    bin_dir: /opt/slurm/bin
    options: [--constraint=teaching, --exclusive]
courses:
  settings:
    ds101: {slurm: {partition: gpu, time: 2h}}
    lab: {slurm: {account: lab-acct, qos: high}}
    art: {image: 'registry.example.edu/courses/art:1'}
"""


def _config(text: str, tmp_path: Path) -> CoursehubConfig:
    path = tmp_path / "coursehub.yaml"
    path.write_text(text)
    return load_config(path).config


def _problems(text: str, tmp_path: Path) -> str:
    path = tmp_path / "coursehub.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return "\n".join(str(p) for p in info.value.problems)


def _translate(text: str, tmp_path: Path) -> dict[str, dict[str, Any]]:
    config = _config(text, tmp_path)
    return translate(config, DataLayout(config.site.data_dir), PORTS, SECRETS, MACHINE)


def _slurm_yaml(**values: str) -> str:
    inner = ", ".join(f"{k}: {v}" for k, v in values.items())
    return f"spawn:\n  backend: slurm\n  slurm: {{{inner}}}\n"


# --- spawn.slurm -----------------------------------------------------------------------


def test_switching_to_slurm_is_one_key() -> None:
    config = load_config_text("spawn: {backend: slurm}\n").config
    slurm = config.spawn.slurm
    assert config.spawn.backend == "slurm"
    # a one-node cluster on this machine works with nothing else set
    assert slurm.hub_address == "127.0.0.1" and slurm.server_ip == "0.0.0.0"
    assert slurm.partition is None and slurm.account is None and slurm.qos is None
    assert slurm.time is None and slurm.options == []
    # memory has its default, which a Slurm job needs
    assert config.servers.limits.memory == 2 * 1024**3


def test_the_slurm_section_may_be_written_while_another_backend_is_used() -> None:
    config = load_config_text(SITE.replace("backend: slurm", "backend: local")).config
    assert config.spawn.backend == "local"
    assert config.spawn.slurm.partition == "teaching,spare"


def test_slurm_settings_are_read(tmp_path: Path) -> None:
    slurm = _config(SITE, tmp_path).spawn.slurm
    assert slurm.partition == "teaching,spare"
    assert slurm.account == "ds" and slurm.qos == "normal"
    assert slurm.time == 8 * 3600
    assert slurm.hub_address == "10.0.0.5"
    assert slurm.options == ["--constraint=teaching", "--exclusive"]
    assert slurm.conf == Path("/etc/slurm/cluster.conf")
    assert slurm.bin_dir == Path("/opt/slurm/bin")


def test_slurm_without_memory_limit_is_refused(tmp_path: Path) -> None:
    text = _problems("spawn: {backend: slurm}\nservers: {limits: {memory: null}}\n", tmp_path)
    assert "servers.limits.memory" in text and "spawn.backend slurm" in text
    assert "e.g. 2G" in text
    # the same limit is fine for backends that need no memory request
    assert load_config_text("servers: {limits: {memory: null}}\n").config


@pytest.mark.parametrize("partition", ["'tea ching'", "'a;b'", "'a,'", "',a'", "'a,,b'", "''"])
def test_bad_partition_is_refused(tmp_path: Path, partition: str) -> None:
    text = _problems(_slurm_yaml(partition=partition), tmp_path)
    assert "coursehub.yaml:3: spawn.slurm.partition:" in text
    assert "expected a partition name such as teaching" in text
    assert "separated by commas" in text


@pytest.mark.parametrize("partition", ["teaching", "gpu.a100", "a-b_c,d", "x" * 64])
def test_good_partition_is_accepted(partition: str) -> None:
    config = load_config_text(_slurm_yaml(partition=f"'{partition}'")).config
    assert config.spawn.slurm.partition == partition


@pytest.mark.parametrize("key", ["account", "qos"])
@pytest.mark.parametrize("value", ["'ds 101'", "'ds;101'", "'ds,101'", "'$(id)'", "x" * 65])
def test_bad_account_or_qos_is_refused(tmp_path: Path, key: str, value: str) -> None:
    text = _problems(_slurm_yaml(**{key: value}), tmp_path)
    assert f"spawn.slurm.{key}:" in text
    assert "expected a Slurm name such as ds101" in text


@pytest.mark.parametrize("time", ["30s", "59", "0"])
def test_time_under_a_minute_is_refused(tmp_path: Path, time: str) -> None:
    text = _problems(_slurm_yaml(time=time), tmp_path)
    assert "spawn.slurm.time:" in text
    assert "at least a minute" in text and "30m or 8h" in text


@pytest.mark.parametrize(
    ("time", "seconds"), [("60", 60), ("1m", 60), ("90m", 5400), ("1d", 86400)]
)
def test_time_of_a_minute_or_more_is_accepted(time: str, seconds: int) -> None:
    assert load_config_text(_slurm_yaml(time=time)).config.spawn.slurm.time == seconds


@pytest.mark.parametrize(
    "option",
    [
        "--foo bar",
        "-x",
        "--foo;rm",
        "--Foo",
        "constraint=teaching",
        "--gres=gpu 1",
        "--comment=$(id)",
        "--comment=`id`",
        "--comment='x'",
        "--foo\n#SBATCH --uid=0",
        "--",
    ],
)
def test_option_that_is_not_one_sbatch_option_is_refused(tmp_path: Path, option: str) -> None:
    # a JSON string is a YAML double-quoted scalar: the value reaches the check as it is
    text = _problems(_slurm_yaml(options=f"[{json.dumps(option)}]"), tmp_path)
    assert "spawn.slurm.options" in text
    assert "is not one sbatch option: expected --name or --name=value" in text
    assert "e.g. --constraint=teaching" in text  # the example of what to write


@pytest.mark.parametrize(
    "option",
    ["--mem=1G", "--job-name=x", "--export=NONE", "--uid=0", "--output=/tmp/x", "--mem"],
)
def test_option_coursehub_sets_itself_is_refused(tmp_path: Path, option: str) -> None:
    text = _problems(_slurm_yaml(options=f"['{option}']"), tmp_path)
    name = option.split("=")[0]
    assert f"spawn.slurm.options: {name} is set by coursehub" in text
    assert "set it there instead" in text
    assert "servers.limits" in text and "courses.settings.<course>.slurm" in text


@pytest.mark.parametrize(
    "options", [["--constraint=teaching"], ["--exclusive", "--gres=gpu:1", "--mail-user=a@b.c"]]
)
def test_good_options_are_kept_in_order(options: list[str]) -> None:
    shown = "[" + ", ".join(options) + "]"
    config = load_config_text(_slurm_yaml(options=shown)).config
    assert config.spawn.slurm.options == options


@pytest.mark.parametrize("key", ["hub_address", "server_ip"])
@pytest.mark.parametrize("value", ["hub.example.edu", "10.0.0", "localhost", "'10.0.0.5:8081'"])
def test_addresses_must_be_ip_addresses(tmp_path: Path, key: str, value: str) -> None:
    text = _problems(_slurm_yaml(**{key: value}), tmp_path)
    assert f"spawn.slurm.{key}:" in text and "expected an IP address, e.g. 10.0.0.5" in text


@pytest.mark.parametrize("value", ["10.1.2.3", "'::1'", "'fd00::5'"])
def test_ip_addresses_are_accepted(value: str) -> None:
    text = "site: {bind_address: 0.0.0.0}\n" + _slurm_yaml(hub_address=value)
    config = load_config_text(text).config
    assert config.spawn.slurm.hub_address == value.strip("'")


def test_unknown_slurm_key_names_the_allowed_ones(tmp_path: Path) -> None:
    text = _problems(_slurm_yaml(partiton="gpu"), tmp_path)
    assert "spawn.slurm.partiton" in text
    assert "unknown key 'partiton' (did you mean 'partition'?)" in text
    assert "hub_address" in text  # in the list of allowed keys


# --- courses.settings.<course>.slurm ---------------------------------------------------


def test_per_course_slurm_settings_are_accepted(tmp_path: Path) -> None:
    settings = _config(SITE, tmp_path).courses.settings
    ds101, lab = settings["ds101"].slurm, settings["lab"].slurm
    assert ds101 is not None and ds101.partition == "gpu" and ds101.time == 7200
    assert ds101.account is None and ds101.qos is None
    assert lab is not None and lab.account == "lab-acct" and lab.qos == "high"
    assert settings["art"].slurm is None


@pytest.mark.parametrize("key", ["options", "hub_address", "bin_dir", "memory"])
def test_per_course_slurm_takes_only_job_options(tmp_path: Path, key: str) -> None:
    text = _problems(f"courses:\n  settings:\n    ds101:\n      slurm: {{{key}: x}}\n", tmp_path)
    assert f"courses.settings.ds101.slurm.{key}" in text
    assert f"unknown key '{key}'" in text
    assert "allowed here: account, partition, qos, time" in text


def test_per_course_slurm_values_are_checked_as_the_sites(tmp_path: Path) -> None:
    text = _problems("courses:\n  settings:\n    ds101: {slurm: {partition: 'a b'}}\n", tmp_path)
    assert "coursehub.yaml:3: courses.settings.ds101.slurm.partition: 'a b':" in text
    assert "expected a partition name" in text
    text = _problems("courses:\n  settings:\n    ds101: {slurm: {time: 10s}}\n", tmp_path)
    assert "courses.settings.ds101.slurm.time" in text and "at least a minute" in text


# --- translation -----------------------------------------------------------------------


def test_slurm_site_uses_the_slurm_spawner(tmp_path: Path) -> None:
    c = _translate(SITE, tmp_path)
    assert c["JupyterHub"]["spawner_class"] == "coursehub.hub.spawners.slurm.CoursehubSlurmSpawner"


def test_servers_on_other_nodes_reach_the_hub_through_the_proxy(tmp_path: Path) -> None:
    c = _translate(SITE, tmp_path)
    hub = c["JupyterHub"]
    # the hub and the service stay on loopback ...
    assert hub["hub_ip"] == "127.0.0.1" and hub["hub_connect_ip"] == "127.0.0.1"
    service = next(s for s in hub["services"] if "url" in s)
    assert urlsplit(service["url"]).hostname == "127.0.0.1"
    # ... and servers on the nodes reach both through the public proxy at hub_address
    assert c["Spawner"]["hub_connect_url"] == "http://10.0.0.5:8443"
    events = urlsplit(c["Spawner"]["environment"]["COURSEHUB_EVENTS_URL"])
    assert (events.hostname, events.port) == ("10.0.0.5", 8443)
    assert events.path == "/services/coursehub/api/events"
    assert urlsplit(c["ConfigurableHTTPProxy"]["api_url"]).hostname == "127.0.0.1"


def test_a_cluster_on_this_machine_talks_to_the_hub_directly(tmp_path: Path) -> None:
    c = _translate(SITE.replace("hub_address: 10.0.0.5", "hub_address: 127.0.0.1"), tmp_path)
    assert "hub_connect_url" not in c["Spawner"]
    events = urlsplit(c["Spawner"]["environment"]["COURSEHUB_EVENTS_URL"])
    assert (events.hostname, events.port) == ("127.0.0.1", PORTS.service)


def test_a_hub_address_the_proxy_does_not_listen_on_is_refused(tmp_path: Path) -> None:
    text = SITE.replace("bind_address: 0.0.0.0", "bind_address: 127.0.0.1")
    problems = _problems(text, tmp_path)
    assert "site.bind_address" in problems and "10.0.0.5" in problems


def test_other_backends_keep_the_hub_on_loopback(tmp_path: Path) -> None:
    # a slurm section written for later does not move a local site's hub
    text = SITE.replace("backend: slurm", "backend: local")
    c = _translate(text, tmp_path)
    assert c["JupyterHub"]["hub_ip"] == "127.0.0.1"
    assert c["JupyterHub"]["spawner_class"] == "coursehub.hub.spawners.local.CoursehubLocalSpawner"
    assert "CoursehubSlurmSpawner" not in c
    assert urlsplit(c["Spawner"]["environment"]["COURSEHUB_EVENTS_URL"]).hostname == "127.0.0.1"
    assert hub_address(_config(text, tmp_path)) == "127.0.0.1"
    assert hub_address(_config(SITE, tmp_path)) == "10.0.0.5"


def test_slurm_spawner_settings(tmp_path: Path) -> None:
    c = _translate(SITE, tmp_path)
    slurm = c["CoursehubSlurmSpawner"]
    assert slurm["partition"] == "teaching,spare"
    assert slurm["account"] == "ds" and slurm["qos"] == "normal"
    assert slurm["job_time"] == 8 * 3600
    assert slurm["server_ip"] == "0.0.0.0"
    assert slurm["sbatch_extra"] == ["--constraint=teaching", "--exclusive"]
    assert slurm["slurm_conf"] == "/etc/slurm/cluster.conf"
    assert slurm["slurm_bin_dir"] == "/opt/slurm/bin"
    # only what a course sets, and only courses that set something
    assert slurm["course_options"] == {
        "ds101": {"partition": "gpu", "time": 7200},
        "lab": {"account": "lab-acct", "qos": "high"},
    }
    assert slurm["jobs_dir"] == str(tmp_path / "coursehub-data" / "slurm-jobs")


def test_unset_slurm_settings_become_empty_values(tmp_path: Path) -> None:
    slurm = _translate("spawn: {backend: slurm}\n", tmp_path)["CoursehubSlurmSpawner"]
    assert slurm["partition"] == slurm["account"] == slurm["qos"] == ""
    assert slurm["slurm_conf"] == slurm["slurm_bin_dir"] == ""
    assert slurm["job_time"] == 0
    assert slurm["sbatch_extra"] == [] and slurm["course_options"] == {}


def test_students_get_local_accounts_on_slurm(tmp_path: Path) -> None:
    c = _translate(SITE, tmp_path)
    spawner = c["CoursehubSpawner"]
    assert spawner["user_prefix"] == "stu-"
    assert spawner["home_root"] == "/srv/homes"
    assert spawner["login_shell"] == "/bin/zsh"
    assert c["Spawner"]["mem_limit"] == 2 * 1024**3
    env = c["JupyterHub"]["services"][0]["environment"]
    assert env["COURSEHUB_SPAWN_BACKEND"] == "slurm"
    assert env["COURSEHUB_USER_PREFIX"] == "stu-"


def test_concurrent_starts_auto_on_slurm_does_not_follow_the_hubs_cores(tmp_path: Path) -> None:
    assert MACHINE.cpu_count != SLURM_AUTO_STARTS
    c = _translate(SITE, tmp_path)
    assert c["CoursehubSpawner"]["concurrent_starts"] == SLURM_AUTO_STARTS
    local = _translate("", tmp_path)
    assert local["CoursehubSpawner"]["concurrent_starts"] == MACHINE.cpu_count
    # a number set by the site is kept on slurm too
    fixed = _config("servers: {concurrent_starts: 5}\n" + SITE, tmp_path)
    assert concurrent_starts(fixed, MACHINE) == 5
    many = Machine(python="/venv/bin/python", cpu_count=64)
    assert concurrent_starts(_config(SITE, tmp_path), many) == SLURM_AUTO_STARTS


@pytest.mark.parametrize(
    ("text", "forks"),
    [
        ("", True),
        ("servers: {start: forked}\n", True),
        ("servers: {start: cold}\n", False),
        ("spawn: {backend: demo}\n", True),
        ("spawn: {backend: slurm}\n", False),
        ("servers: {start: forked}\nspawn: {backend: slurm}\n", False),
        (
            "site: {bind_address: 0.0.0.0}\n"
            "spawn: {backend: docker, docker: {image: 'quay.io/jupyter/base:2025'}}\n",
            False,
        ),
    ],
)
def test_templates_fork_only_for_servers_on_this_machine(
    tmp_path: Path, text: str, forks: bool
) -> None:
    assert forks_here(_config(text, tmp_path)) is forks


# --- IPv6 and relative paths --------------------------------------------------------


def test_an_ipv6_hub_address_gives_usable_urls(tmp_path: Path) -> None:
    c = _translate(SITE.replace("hub_address: 10.0.0.5", "hub_address: 'fd00::5'"), tmp_path)
    url = urlsplit(c["Spawner"]["hub_connect_url"])
    assert (url.hostname, url.port) == ("fd00::5", 8443)
    events = urlsplit(c["Spawner"]["environment"]["COURSEHUB_EVENTS_URL"])
    assert (events.hostname, events.port) == ("fd00::5", 8443)


def test_relative_slurm_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    slurm = _config(_slurm_yaml(conf="etc/slurm.conf", bin_dir="slurm/bin"), tmp_path).spawn.slurm
    assert slurm.conf == tmp_path / "etc" / "slurm.conf"
    assert slurm.bin_dir == tmp_path / "slurm" / "bin"


# --- grading as Slurm jobs ----------------------------------------------------------


def _grading_section(c: dict[str, dict[str, Any]]) -> dict[str, Any]:
    service = next(s for s in c["JupyterHub"]["services"] if "environment" in s)
    return json.loads(service["environment"]["COURSEHUB_GRADING"])


def test_grading_stays_in_the_service_unless_asked(tmp_path: Path) -> None:
    assert _grading_section(_translate(SITE, tmp_path))["slurm"] is None


def test_grading_jobs_take_their_own_partition_over_the_sites(tmp_path: Path) -> None:
    text = SITE + "grading:\n  run_on: slurm\n  slurm: {partition: grading}\n"
    slurm = _grading_section(_translate(text, tmp_path))["slurm"]
    assert slurm["partition"] == "grading"
    assert slurm["account"] == "ds" and slurm["qos"] == "normal"  # the site's
    assert slurm["conf"] == "/etc/slurm/cluster.conf"
    assert slurm["options"] == ["--constraint=teaching", "--exclusive"]


def test_grading_job_asks_for_the_box_and_runs_the_job_entry(tmp_path: Path) -> None:
    import shlex

    from coursehub.config.service_sections import GradingJobTarget
    from coursehub.grading.grader import GradingLimits
    from coursehub.grading.sandbox import SandboxLimits
    from coursehub.grading.slurm_grader import SlurmGrader

    grader = SlurmGrader(
        GradingJobTarget(partition="grading", options=["--comment=x"]), "sqlite://", tmp_path
    )
    limits = GradingLimits(SandboxLimits(memory=2**30, wall_seconds=300), cell_seconds=30)
    options = grader.options(7, limits)
    assert "--job-name=coursehub-grade-7" in options
    assert "--mem=1536M" in options  # the box's 1 GiB and the grader's own 512 MiB
    assert "--time=7" in options  # 300 s of wall time and 120 s of set-up, in minutes
    assert "--partition=grading" in options and options[-1] == "--comment=x"
    script = grader.script(7, limits, "/venv/bin/python", tmp_path / "g7.json")
    argv = shlex.split(script.splitlines()[-1])[1:]
    assert argv[:3] == ["/venv/bin/python", "-m", "coursehub.ops.grading_job"]
    sent = json.loads(argv[argv.index("--limits") + 1])
    assert sent["memory"] == 2**30 and sent["wall_time"] == 300 and sent["cell_time"] == 30
