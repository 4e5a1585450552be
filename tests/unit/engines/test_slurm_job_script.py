"""A server's Slurm job without a cluster: the sbatch options and batch script the hub
submits, the in-job starter (coursehub.student.slurm_job) run as a plain process, and the
parsing of Slurm's commands' output, with stand-in commands printing canned output."""

from __future__ import annotations

import json
import os
import pwd
import resource
import shlex
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursehub.engines.slurm.commands import (
    Identity,
    JobState,
    SlurmCommands,
    SlurmError,
    StateCache,
)
from coursehub.engines.slurm.script import JobRequest, batch_script, job_name, sbatch_options
from coursehub.student import slurm_job as starter

MiB = 2**20
NASTY = [
    "a b",
    "it's",
    '"quoted"',
    "$(touch pwned)",
    "`touch pwned2`",
    "; touch pwned3",
    "$HOME",
    "*",
    "--",
    "",
    "line\nbreak",
    "back\\slash",
]


def _request(tmp_path: Path, **changes: object) -> JobRequest:
    values: dict[str, object] = {
        "name": job_name("ch-alice", "ds101"),
        "log": tmp_path / "jobs" / "ch-alice" / "ds101.log",
        "workdir": tmp_path / "work",
        "rendezvous": tmp_path / "jobs" / "ch-alice" / "ds101.json",
        "python": "/venv/bin/python",
        "server_argv": ["/venv/bin/python", "-m", "coursehub.student.singleuser", "--debug"],
        "memory": 2 * 1024**3,
        "cpu": 1.0,
    }
    values.update(changes)
    return JobRequest(**values)  # type: ignore[arg-type]


def _option(options: list[str], name: str) -> str | None:
    """The value of --name=value among `options` (None: absent); exactly once."""
    found = [o.split("=", 1)[1] for o in options if o.startswith(f"--{name}=")]
    assert len(found) <= 1, f"--{name} given {len(found)} times: {options}"
    return found[0] if found else None


def _exec_line(script: str) -> list[str]:
    lines = script.splitlines()
    assert lines[0] == "#!/bin/sh"
    body = script.split("\n", 1)[1]
    words = shlex.split(body)
    assert words[0] == "exec"
    return words[1:]


# --- job name and sbatch options -------------------------------------------------------


def test_job_name_says_whose_server_it_is() -> None:
    assert job_name("ch-alice", "ds101") == "coursehub-ch-alice-ds101"
    assert job_name("ch-bob", "") == "coursehub-ch-bob"


@pytest.mark.parametrize(
    ("memory", "mib"),
    [(2 * 1024**3, 2048), (MiB, 1), (MiB + 1, 2), (1, 1), (1536 * MiB - 1, 1536)],
)
def test_memory_is_asked_in_mib_rounded_up(tmp_path: Path, memory: int, mib: int) -> None:
    assert _option(sbatch_options(_request(tmp_path, memory=memory)), "mem") == f"{mib}M"


def test_no_memory_limit_asks_for_none(tmp_path: Path) -> None:
    assert _option(sbatch_options(_request(tmp_path, memory=None)), "mem") is None


@pytest.mark.parametrize(
    ("cpu", "cpus"), [(None, 1), (0.25, 1), (1.0, 1), (1.01, 2), (2.0, 2), (3.5, 4)]
)
def test_cpus_are_whole_cores_rounded_up(tmp_path: Path, cpu: float | None, cpus: int) -> None:
    options = sbatch_options(_request(tmp_path, cpu=cpu))
    assert _option(options, "cpus-per-task") == str(cpus)


@pytest.mark.parametrize(("seconds", "minutes"), [(60, 1), (90, 1), (3600, 60), (8 * 3600, 480)])
def test_time_is_in_minutes(tmp_path: Path, seconds: int, minutes: int) -> None:
    assert _option(sbatch_options(_request(tmp_path, time=seconds)), "time") == str(minutes)


def test_no_time_leaves_the_partitions_limit(tmp_path: Path) -> None:
    assert _option(sbatch_options(_request(tmp_path)), "time") is None


def test_partition_account_qos_only_when_given(tmp_path: Path) -> None:
    bare = sbatch_options(_request(tmp_path))
    for name in ("partition", "account", "qos"):
        assert _option(bare, name) is None
    assert not any(o.startswith(("--partition", "--account", "--qos")) for o in bare)
    full = sbatch_options(_request(tmp_path, partition="gpu,cpu", account="ds101", qos="high"))
    assert _option(full, "partition") == "gpu,cpu"
    assert _option(full, "account") == "ds101"
    assert _option(full, "qos") == "high"
    only_qos = sbatch_options(_request(tmp_path, qos="low"))
    assert _option(only_qos, "qos") == "low" and _option(only_qos, "partition") is None


def test_log_workdir_environment_and_name(tmp_path: Path) -> None:
    request = _request(tmp_path, log=tmp_path / "a b" / "x.log", workdir=tmp_path / "w d")
    options = sbatch_options(request)
    assert _option(options, "output") == str(tmp_path / "a b" / "x.log")
    assert _option(options, "chdir") == str(tmp_path / "w d")
    assert _option(options, "export") == "ALL"
    assert _option(options, "job-name") == "coursehub-ch-alice-ds101"
    assert _option(options, "error") is None  # errors go to the same log


def test_extra_options_come_last_in_order(tmp_path: Path) -> None:
    extra = ["--constraint=teaching", "--exclusive", "--gres=gpu:1"]
    options = sbatch_options(_request(tmp_path, options=extra, partition="p", time=600))
    assert options[-3:] == extra
    assert len(options) == len(set(options))


def test_every_option_is_one_argument(tmp_path: Path) -> None:
    # options go on sbatch's command line, not #SBATCH lines: a space in a path is fine
    request = _request(tmp_path, log=tmp_path / "my logs" / "x.log", partition="p", qos="q")
    for option in sbatch_options(request):
        assert option.startswith("--") and "\n" not in option
    assert "#SBATCH" not in batch_script(request)


# --- the batch script ------------------------------------------------------------------


def test_script_execs_the_starter(tmp_path: Path) -> None:
    request = _request(tmp_path, server_ip="10.0.0.9")
    assert _exec_line(batch_script(request)) == [
        "/venv/bin/python", "-m", "coursehub.student.slurm_job",
        "--rendezvous", str(request.rendezvous),
        "--ip", "10.0.0.9",
        "--", *request.server_argv,
    ]  # fmt: skip


def test_script_passes_limits_only_when_set(tmp_path: Path) -> None:
    request = _request(tmp_path, processes=512, file_size=2 * 1024**3)
    words = _exec_line(batch_script(request))
    cut = words.index("--")
    head = words[:cut]
    assert head[head.index("--processes") + 1] == "512"
    assert head[head.index("--file-size") + 1] == str(2 * 1024**3)
    assert words[cut + 1 :] == request.server_argv
    only_files = _exec_line(batch_script(_request(tmp_path, file_size=4096)))
    assert "--processes" not in only_files and "--file-size" in only_files
    plain = _exec_line(batch_script(_request(tmp_path, processes=0, file_size=None)))
    assert "--processes" not in plain and "--file-size" not in plain


def test_script_quotes_every_word(tmp_path: Path) -> None:
    request = _request(
        tmp_path,
        python="/opt/py $(id)/python",
        rendezvous=tmp_path / "it's a $(dir)" / "ds 101.json",
        server_argv=["/opt/py $(id)/python", *NASTY],
        processes=64,
    )
    assert _exec_line(batch_script(request)) == [
        "/opt/py $(id)/python", "-m", "coursehub.student.slurm_job",
        "--rendezvous", str(request.rendezvous),
        "--ip", "0.0.0.0",
        "--processes", "64",
        "--", "/opt/py $(id)/python", *NASTY,
    ]  # fmt: skip


@pytest.fixture
def argv_printer(tmp_path: Path) -> Path:
    """An executable standing in for python: prints its arguments and pid as JSON."""
    folder = tmp_path / "bin dir 'q' $(x)"
    folder.mkdir()
    path = folder / "fake python"
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "print(json.dumps({'argv': sys.argv[1:], 'pid': os.getpid()}))\n"
    )
    path.chmod(0o755)
    return path


def test_script_run_by_sh_hands_every_word_over_unchanged(
    tmp_path: Path, argv_printer: Path
) -> None:
    run_dir = tmp_path / "cwd"
    run_dir.mkdir()
    request = _request(
        tmp_path,
        python=str(argv_printer),
        rendezvous=tmp_path / "it's a $(touch pwned)" / "x `id`.json",
        server_argv=[str(argv_printer), *NASTY],
        server_ip="::",
        processes=100,
        file_size=12345,
    )
    script = tmp_path / "job.sh"
    script.write_text(batch_script(request))
    proc = subprocess.Popen(
        ["/bin/sh", str(script)], cwd=run_dir, stdout=subprocess.PIPE, text=True
    )
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    printed = json.loads(out)
    assert printed["argv"] == [
        "-m", "coursehub.student.slurm_job",
        "--rendezvous", str(request.rendezvous),
        "--ip", "::",
        "--processes", "100",
        "--file-size", "12345",
        "--", str(argv_printer), *NASTY,
    ]  # fmt: skip
    # exec: the server is the batch shell's own process, so Slurm's signals reach it
    assert printed["pid"] == proc.pid
    # nothing in a word was run by the shell
    assert list(run_dir.iterdir()) == []


def test_script_runs_the_real_starter(tmp_path: Path) -> None:
    rendezvous = tmp_path / "jobs" / "ds101.json"
    rendezvous.parent.mkdir()
    request = _request(
        tmp_path,
        python=sys.executable,
        rendezvous=rendezvous,
        server_ip="127.0.0.1",
        server_argv=[
            sys.executable,
            "-c",
            "import os; print(os.environ['JUPYTERHUB_SERVICE_URL'])",
        ],
    )
    script = tmp_path / "job.sh"
    script.write_text(batch_script(request))
    env = {**os.environ, "SLURM_JOB_ID": "5", "JUPYTERHUB_SERVICE_URL": "http://x:1/user/a/"}
    done = subprocess.run(
        ["/bin/sh", str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(rendezvous.read_text())
    assert record["job"] == "5"
    assert done.stdout.splitlines()[-1] == f"http://127.0.0.1:{record['port']}/user/a/"


# --- the in-job starter ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "ip", "port", "expected"),
    [
        ("http://127.0.0.1:0/user/a/c/", "10.1.2.3", 4567, "http://10.1.2.3:4567/user/a/c/"),
        ("http://127.0.0.1:0/user/a/c/", "0.0.0.0", 80, "http://0.0.0.0:80/user/a/c/"),
        ("https://hub:9/user/b/", "10.0.0.1", 5000, "https://10.0.0.1:5000/user/b/"),
        ("http://127.0.0.1:0/user/a/c/", "fd00::1", 4567, "http://[fd00::1]:4567/user/a/c/"),
        ("http://[::1]:8888/user/a/", "::", 1234, "http://[::]:1234/user/a/"),
        ("", "10.0.0.2", 1234, "http://10.0.0.2:1234"),
    ],
)
def test_service_url_gets_the_jobs_address(url: str, ip: str, port: int, expected: str) -> None:
    assert starter.service_url(url, ip, port) == expected


def test_free_port_can_be_bound() -> None:
    port = starter.free_port("127.0.0.1")
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_free_port_on_ipv6() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        port = starter.free_port("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", port))


def test_rendezvous_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    path = tmp_path / "ds101.json"
    starter.write_rendezvous(path, 34567)
    assert json.loads(path.read_text()) == {
        "port": 34567,
        "host": socket.gethostname(),
        "job": "4242",
    }
    info = os.lstat(path)
    assert stat.S_ISREG(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["ds101.json"]  # no temporary left
    # a new start replaces the record whole
    monkeypatch.setenv("SLURM_JOB_ID", "4243")
    starter.write_rendezvous(path, 40000)
    assert json.loads(path.read_text())["job"] == "4243"
    assert [p.name for p in tmp_path.iterdir()] == ["ds101.json"]


def test_rendezvous_without_a_job_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    starter.write_rendezvous(tmp_path / "r.json", 2000)
    assert json.loads((tmp_path / "r.json").read_text())["job"] == ""


def test_rendezvous_does_not_write_through_a_link_at_its_temporary(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    path = tmp_path / "ds101.json"
    (tmp_path / f".ds101.json.{os.getpid()}").symlink_to(victim)
    starter.write_rendezvous(path, 34567)  # the link is removed, not written through
    assert victim.read_text() == "keep me"
    assert json.loads(path.read_text())["port"] == 34567
    assert (path.stat().st_mode & 0o777) == 0o600


def test_rendezvous_replaces_a_link_at_its_name(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    path = tmp_path / "ds101.json"
    path.symlink_to(victim)
    starter.write_rendezvous(path, 34567)
    assert victim.read_text() == "keep me"
    assert not path.is_symlink() and json.loads(path.read_text())["port"] == 34567


@pytest.mark.parametrize("argv", [[], ["--"]])
def test_starter_without_server_command_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    rendezvous = tmp_path / "r.json"
    code = starter.main(["--rendezvous", str(rendezvous), "--ip", "127.0.0.1", *argv])
    assert code == 78
    assert "no server command after --" in capsys.readouterr().err
    assert not rendezvous.exists()


def _run_starter(
    tmp_path: Path, child_code: str, *options: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    rendezvous = tmp_path / "ds101.json"
    env = {
        **os.environ,
        "SLURM_JOB_ID": "77",
        "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:0/user/a/c/",
    }
    env.pop("COURSEHUB_KERNELS", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "coursehub.student.slurm_job",
            "--rendezvous",
            str(rendezvous),
            "--ip",
            "127.0.0.1",
            *options,
            "--",
            sys.executable,
            "-c",
            child_code,
        ],  # fmt: skip
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done, rendezvous


def test_starter_runs_the_server_on_its_port(tmp_path: Path) -> None:
    done, rendezvous = _run_starter(
        tmp_path, "import os, json; print(json.dumps({**os.environ, 'pid': os.getpid()}))"
    )
    first, last = done.stdout.splitlines()[0], done.stdout.splitlines()[-1]
    child = json.loads(last)
    record = json.loads(rendezvous.read_text())
    assert record["job"] == "77" and record["host"] == socket.gethostname()
    port = record["port"]
    assert isinstance(port, int) and 1024 <= port <= 65535
    assert child["JUPYTERHUB_SERVICE_URL"] == f"http://127.0.0.1:{port}/user/a/c/"
    # kernels start inside the job, never from a template on the hub's machine
    assert child["COURSEHUB_KERNELS"] == "cold"
    assert child["SLURM_JOB_ID"] == "77"
    assert f"job 77 on {socket.gethostname()} port {port}" in first
    assert stat.S_IMODE(os.lstat(rendezvous).st_mode) == 0o600
    with socket.socket() as sock:  # nothing kept the port
        sock.bind(("127.0.0.1", port))


def test_starter_lowers_the_servers_limits(tmp_path: Path) -> None:
    code = (
        "import json, resource as r; "
        "print(json.dumps([r.getrlimit(r.RLIMIT_NPROC), r.getrlimit(r.RLIMIT_FSIZE)]))"
    )
    processes, file_size = 700, 3 * MiB
    done, _ = _run_starter(
        tmp_path, code, "--processes", str(processes), "--file-size", str(file_size)
    )
    nproc, fsize = json.loads(done.stdout.splitlines()[-1])

    def expected(which: int, value: int) -> list[int]:
        hard = resource.getrlimit(which)[1]
        lowered = value if hard == resource.RLIM_INFINITY else min(value, hard)
        return [lowered, lowered]

    assert nproc == expected(resource.RLIMIT_NPROC, processes)
    assert fsize == expected(resource.RLIMIT_FSIZE, file_size)
    # without the options the limits are the job's own
    done, _ = _run_starter(tmp_path, code)
    nproc, fsize = json.loads(done.stdout.splitlines()[-1])
    assert tuple(fsize) == resource.getrlimit(resource.RLIMIT_FSIZE)
    assert tuple(nproc) == resource.getrlimit(resource.RLIMIT_NPROC)


def _in_child(code: str) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


def test_lower_limit_never_raises_the_hard_limit() -> None:
    got = _in_child(
        "import json, resource as r\n"
        "from coursehub.student.slurm_job import lower_limit\n"
        "r.setrlimit(r.RLIMIT_FSIZE, (1000000, 1000000))\n"
        "lower_limit(r.RLIMIT_FSIZE, 5000000)\n"
        "print(json.dumps(r.getrlimit(r.RLIMIT_FSIZE)))\n"
    )
    assert got == [1000000, 1000000]


def test_lower_limit_never_raises_the_soft_limit() -> None:
    got = _in_child(
        "import json, resource as r\n"
        "from coursehub.student.slurm_job import lower_limit\n"
        "r.setrlimit(r.RLIMIT_FSIZE, (1000000, 9000000))\n"
        "lower_limit(r.RLIMIT_FSIZE, 5000000)\n"
        "print(json.dumps(r.getrlimit(r.RLIMIT_FSIZE)))\n"
    )
    assert got[0] <= 1000000


# --- Slurm's commands (parsing only: the "commands" are stand-in shell scripts) --------


def _fake(bin_dir: Path, name: str, body: str) -> Path:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


@pytest.fixture
def bin_dir() -> Iterator[Path]:
    """A folder of stand-in Slurm commands, reachable by any account (the submit test
    runs one as another user, which a 0700 pytest tmp_path would not let in)."""
    with tempfile.TemporaryDirectory(prefix="coursehub-fake-slurm-") as name:
        os.chmod(name, 0o755)
        yield Path(name)


def _me() -> Identity:
    return Identity(os.getuid(), os.getgid(), ())


@pytest.fixture
def commands(bin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> SlurmCommands:
    cmds = SlurmCommands(bin_dir=str(bin_dir))
    if os.geteuid() != 0:
        # switching identity needs root; the parsing under test does not
        run = SlurmCommands._run

        def without_identity(argv: list[str], **kw: object) -> object:
            return run(cmds, argv, **{**kw, "identity": None})  # type: ignore[arg-type]

        monkeypatch.setattr(cmds, "_run", without_identity)
    return cmds


def test_states_parses_squeue_lines(bin_dir: Path, commands: SlurmCommands) -> None:
    args = bin_dir / "args"
    _fake(
        bin_dir,
        "squeue",
        f'printf "%s\\n" "$@" > "{args}"\n'
        "echo '12|RUNNING|node1|None'\n"
        "echo ' 13|PENDING||Resources '\n"
        "echo '14|COMPLETED|node2,node3|None'\n"
        "echo 'garbage line'\n",
    )
    states = commands.states(["12", "13", "14", "15"])
    assert states == {
        "12": JobState("RUNNING", "node1", "None"),
        "13": JobState("PENDING", "", "Resources"),
        "14": JobState("COMPLETED", "node2,node3", "None"),
    }
    assert not states["12"].finished and not states["13"].finished and states["14"].finished
    asked = args.read_text().splitlines()
    assert "--jobs=12,13,14,15" in asked and "--noheader" in asked
    assert "--states=all" in asked  # finished jobs are seen as finished, not as gone


def test_states_of_no_job_asks_nothing(bin_dir: Path, commands: SlurmCommands) -> None:
    calls = bin_dir / "calls"
    _fake(bin_dir, "squeue", f'echo x >> "{calls}"\n')
    assert commands.states([]) == {}
    assert not calls.exists()


def test_states_of_jobs_slurm_forgot_is_empty(bin_dir: Path, commands: SlurmCommands) -> None:
    _fake(
        bin_dir,
        "squeue",
        "echo 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n",
    )
    assert commands.states(["99"]) == {}


def test_states_failing_otherwise_raises(bin_dir: Path, commands: SlurmCommands) -> None:
    _fake(
        bin_dir,
        "squeue",
        "echo 'slurm_load_jobs error: Unable to contact slurm controller' >&2\nexit 1\n",
    )
    with pytest.raises(SlurmError, match="squeue failed: .*Unable to contact slurm controller"):
        commands.states(["12"])


def test_a_missing_command_says_where_to_look(bin_dir: Path) -> None:
    with pytest.raises(SlurmError, match=r"squeue not found.*spawn\.slurm\.bin_dir"):
        SlurmCommands(bin_dir=str(bin_dir)).states(["1"])


def test_slurm_conf_reaches_the_commands(bin_dir: Path) -> None:
    _fake(bin_dir, "squeue", 'echo "1|RUNNING|$SLURM_CONF|None"\n')
    cmds = SlurmCommands(conf="/etc/slurm/other.conf", bin_dir=str(bin_dir))
    assert cmds.states(["1"])["1"].nodes == "/etc/slurm/other.conf"


@pytest.mark.parametrize("printed", ["123", "123;cluster", "  123\n"])
def test_submit_returns_the_job_id(
    bin_dir: Path, commands: SlurmCommands, tmp_path: Path, printed: str
) -> None:
    got = bin_dir / "got"
    _fake(
        bin_dir,
        "sbatch",
        f'printf "%s\\n" "$@" > "{got}.args"\ncat > "{got}.stdin"\n'
        f'echo "$JOB_ONLY" > "{got}.env"\nprintf "{printed}"\n',
    )
    job_id = commands.submit(
        ["--job-name=x", "--output=/a b/log"],
        "#!/bin/sh\nexec server\n",
        {"PATH": os.environ["PATH"], "JOB_ONLY": "from the job's environment"},
        _me(),
        str(tmp_path),
    )
    assert job_id == "123"
    assert Path(f"{got}.args").read_text().splitlines() == [
        "--parsable",
        "--job-name=x",
        "--output=/a b/log",
    ]
    assert Path(f"{got}.stdin").read_text() == "#!/bin/sh\nexec server\n"
    assert Path(f"{got}.env").read_text().strip() == "from the job's environment"


def test_submit_refused_carries_sbatchs_words(
    bin_dir: Path, commands: SlurmCommands, tmp_path: Path
) -> None:
    _fake(
        bin_dir,
        "sbatch",
        "echo 'sbatch: error: Batch job submission failed:' >&2\n"
        "echo '  Invalid account or account/partition combination specified' >&2\nexit 1\n",
    )
    with pytest.raises(SlurmError) as info:
        commands.submit([], "#!/bin/sh\n", dict(os.environ), _me(), str(tmp_path))
    message = str(info.value)
    assert message.startswith("sbatch refused the job: ")
    assert "Invalid account or account/partition combination specified" in message
    assert "\n" not in message  # one line for the student's progress page


def test_submit_without_a_job_id_raises(
    bin_dir: Path, commands: SlurmCommands, tmp_path: Path
) -> None:
    _fake(bin_dir, "sbatch", "echo 'Submitted batch job'\n")
    with pytest.raises(SlurmError, match="sbatch gave no job id"):
        commands.submit([], "#!/bin/sh\n", dict(os.environ), _me(), str(tmp_path))


@pytest.mark.skipif(os.geteuid() != 0, reason="submitting as another account needs root")
def test_submit_runs_as_the_student(bin_dir: Path) -> None:
    student = pwd.getpwnam("nobody")
    out = bin_dir / "out"
    out.mkdir()
    out.chmod(0o777)
    _fake(bin_dir, "sbatch", f'id -u > "{out}/uid"\nid -g > "{out}/gid"\necho 321\n')
    job_id = SlurmCommands(bin_dir=str(bin_dir)).submit(
        [],
        "#!/bin/sh\n",
        {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        Identity(student.pw_uid, student.pw_gid, (student.pw_gid,)),
        str(bin_dir),
    )
    assert job_id == "321"
    assert (out / "uid").read_text().strip() == str(student.pw_uid)
    assert (out / "gid").read_text().strip() == str(student.pw_gid)


def test_cancel_of_a_gone_job_is_quiet(bin_dir: Path, commands: SlurmCommands) -> None:
    _fake(
        bin_dir,
        "scancel",
        "echo 'scancel: error: Kill job error on job id 5: Invalid job id specified' >&2\nexit 1\n",
    )
    commands.cancel("5")
    _fake(bin_dir, "scancel", "echo 'scancel: error: Access/permission denied' >&2\nexit 1\n")
    with pytest.raises(SlurmError, match="scancel 5 failed: .*permission denied"):
        commands.cancel("5")


@pytest.mark.parametrize(
    ("printed", "address"),
    [
        (
            "NodeName=node1 Arch=x86_64 CoresPerSocket=1 NodeAddr=10.0.0.7 NodeHostName=n1",
            "10.0.0.7",
        ),
        ("NodeName=node1 NodeAddr= NodeHostName=n1", "node1"),
        ("NodeName=node1 Arch=x86_64", "node1"),
        ("", "node1"),
    ],
)
def test_node_address(bin_dir: Path, commands: SlurmCommands, printed: str, address: str) -> None:
    args = bin_dir / "args"
    _fake(bin_dir, "scontrol", f'echo "$@" > "{args}"\necho "{printed}"\n')
    assert commands.node_address("node1") == address
    assert args.read_text().split() == ["--oneliner", "show", "node", "node1"]


@pytest.mark.parametrize(
    ("printed", "code"),
    [
        (
            "JobId=5 JobName=coursehub-a JobState=FAILED Reason=NonZeroExitCode ExitCode=0:15",
            "0:15",
        ),
        ("JobId=5 JobState=COMPLETED ExitCode=1:0 DerivedExitCode=0:0", "1:0"),
        ("JobId=5 JobState=PENDING", None),
    ],
)
def test_exit_code(bin_dir: Path, commands: SlurmCommands, printed: str, code: str | None) -> None:
    _fake(bin_dir, "scontrol", f'echo "{printed}"\n')
    assert commands.exit_code("5") == code


def test_exit_code_of_a_forgotten_job(bin_dir: Path, commands: SlurmCommands) -> None:
    _fake(
        bin_dir, "scontrol", "echo 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n"
    )
    assert commands.exit_code("5") is None


def test_config_value(bin_dir: Path, commands: SlurmCommands) -> None:
    _fake(
        bin_dir,
        "scontrol",
        "echo 'Configuration data as of 2025-01-01T00:00:00'\n"
        "echo 'PropagateResourceLimits = ALL'\necho 'SlurmctldPort           = 6817'\n",
    )
    assert commands.config_value("SlurmctldPort") == "6817"
    assert commands.config_value("PropagateResourceLimits") == "ALL"
    assert commands.config_value("NoSuchKey") is None


# --- one squeue for every server -------------------------------------------------------


@pytest.fixture
def counting_squeue(bin_dir: Path) -> Path:
    """squeue that logs each --jobs= it is asked and reports every job RUNNING except
    job 404 (gone)."""
    calls = bin_dir / "calls"
    _fake(
        bin_dir,
        "squeue",
        'for a in "$@"; do case $a in --jobs=*) jobs=${a#--jobs=};; esac; done\n'
        f'echo "$jobs" >> "{calls}"\n'
        'IFS=,\nfor j in $jobs; do [ "$j" = 404 ] || echo "$j|RUNNING|node1|None"; done\n',
    )
    return calls


def _calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_state_cache_asks_once_for_many_servers(bin_dir: Path, counting_squeue: Path) -> None:
    cache = StateCache(SlurmCommands(bin_dir=str(bin_dir)), ttl=60)
    assert cache.get("1") == JobState("RUNNING", "node1", "None")
    assert cache.get("2") is not None  # a job not asked about yet: ask, for all known
    assert _calls(counting_squeue) == ["1", "1,2"]
    for _ in range(5):
        assert cache.get("1") is not None and cache.get("2") is not None
    assert _calls(counting_squeue) == ["1", "1,2"]  # within ttl: no more squeue
    assert cache.get("2", fresh=True) is not None
    assert _calls(counting_squeue) == ["1", "1,2", "1,2"]
    assert cache.get("404") is None  # Slurm does not know it: gone
    assert cache.get("404") is None
    assert _calls(counting_squeue)[-1] == "1,2,404" and len(_calls(counting_squeue)) == 4
    cache.forget("1")
    cache.forget("404")
    cache.get("2", fresh=True)
    assert _calls(counting_squeue)[-1] == "2"


def test_state_cache_asks_again_after_ttl(bin_dir: Path, counting_squeue: Path) -> None:
    import time

    cache = StateCache(SlurmCommands(bin_dir=str(bin_dir)), ttl=0.2)
    cache.get("7")
    cache.get("7")
    assert len(_calls(counting_squeue)) == 1
    time.sleep(0.3)
    cache.get("7")
    assert len(_calls(counting_squeue)) == 2


def test_state_cache_serves_threads_asking_at_once(bin_dir: Path, counting_squeue: Path) -> None:
    cache = StateCache(SlurmCommands(bin_dir=str(bin_dir)), ttl=60)
    results: list[JobState | None] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        results.append(cache.get("9"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [JobState("RUNNING", "node1", "None")] * 8
    assert _calls(counting_squeue) == ["9"]
