"""`coursehub doctor`: check the machine and the configuration; every failure says its fix."""

from __future__ import annotations

import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console

from coursehub.config.layout import DataLayout
from coursehub.config.loader import load_config
from coursehub.config.machine import effective_config, is_root
from coursehub.config.models import CoursehubConfig, JwtSignInConfig, MoodleCompatConfig
from coursehub.config.secrets import read_secret
from coursehub.config.translate.jupyterhub import coursehub_database_url, public_url
from coursehub.core.errors import ConfigError, SetupError
from coursehub.engines.limits import Cgroups, Limits, systemd_is_init
from coursehub.ops.ports import port_is_free
from coursehub.ops.proxy import find_proxy

MIN_FREE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok, warn, fail; info: a fact, neither good nor bad
    detail: str
    fix: str = ""


def run_checks(config_path: Path) -> list[Check]:
    checks: list[Check] = []
    try:
        loaded = load_config(config_path)
    except ConfigError as exc:
        return [Check("configuration", "fail", str(exc), "fix the lines named above")]
    checks.append(Check("configuration", "ok", f"{loaded.path} is valid"))
    config = effective_config(loaded.config)
    layout = DataLayout(config.site.data_dir)

    if is_root():
        checks.append(Check("root", "ok", "running as root: one Unix account per student"))
    else:
        checks.append(
            Check(
                "root",
                "warn",
                "not root: demo mode, every server runs as this account",
                "run coursehub as root for real per-student isolation",
            )
        )
    if is_root() and config.spawn.backend == "local":
        checks.append(_student_python_check())
    checks.append(_proxy_check())
    checks.append(_port_check(config.site.port, config.site.bind_address, layout))
    checks.append(_database_check(coursehub_database_url(config, layout)))
    checks.append(_disk_check(layout.root))
    checks.extend(_permission_checks(layout))
    if is_root():
        from coursehub.ops.doctor_reach import data_dir_reach_check

        checks.append(data_dir_reach_check(layout))
    checks.append(_grading_dir_check(layout.root))
    if is_root():
        checks.extend(_sandbox_checks())
    limits = config.servers.limits
    checks.append(_limits_check(Limits(limits.memory, limits.cpu, limits.processes)))
    if "lti" in config.auth.methods:
        checks.extend(lms_checks(config, _registered_platforms(config, layout)))
    if "jwt" in config.auth.methods and config.auth.jwt is not None:
        checks.append(jwt_key_check(config.auth.jwt))
    if config.grading.moodle_compat.enabled:
        checks.append(moodle_compat_check(config.grading.moodle_compat))
    from coursehub.ops.doctor_identity import roles_check
    from coursehub.ops.doctor_ops import ops_checks
    from coursehub.ops.doctor_origin import subdomains_check
    from coursehub.ops.doctor_security import security_checks
    from coursehub.ops.doctor_templates import kernel_templates_check, server_template_check

    checks.append(roles_check(config, layout))
    checks.extend(ops_checks(config, layout))
    checks.append(subdomains_check(config))
    checks.append(server_template_check(config, layout))
    checks.append(kernel_templates_check(config, layout))
    checks.extend(security_checks(config, layout))
    return checks


def _student_python_check() -> Check:
    """Servers run this Python as each student: it must not live under /root."""
    import subprocess
    import sys

    probe = subprocess.run(
        ["runuser", "-u", "nobody", "--", sys.executable, "-c", "import jupyterhub"],
        capture_output=True,
        timeout=60,
    )
    if probe.returncode == 0:
        return Check("server python", "ok", f"{sys.executable} runs for student accounts")
    return Check(
        "server python",
        "fail",
        f"student accounts cannot run {sys.executable} (it resolves to "
        f"{Path(sys.executable).resolve()})",
        "install coursehub in a virtual environment made with a system Python "
        "such as /usr/bin/python3 (./dev setup does this)",
    )


def _proxy_check() -> Check:
    try:
        path = find_proxy()
    except SetupError as exc:
        return Check("proxy", "fail", "configurable-http-proxy not found", str(exc))
    if shutil.which("node") is None:
        return Check("proxy", "fail", "node is not installed", "install Node.js 18 or newer")
    return Check("proxy", "ok", path)


def _port_check(port: int, host: str, layout: DataLayout) -> Check:
    if port_is_free(port, host):
        return Check("port", "ok", f"{host}:{port} is free")
    if layout.up_pid_file.exists():
        return Check("port", "ok", f"{host}:{port} is in use by this coursehub (running)")
    return Check(
        "port",
        "fail",
        f"{host}:{port} is in use by another program",
        "stop that program (see `ss -ltnp`) or change site.port",
    )


def _database_check(url: str) -> Check:
    from sqlalchemy import text

    from coursehub.db.session import make_engine

    shown = url.split("@")[-1] if "@" in url else url
    if url.startswith("sqlite") and not Path(url.removeprefix("sqlite:///")).exists():
        return Check("database", "ok", f"{shown} will be created by `coursehub up`")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any driver error means unreachable
        return Check(
            "database",
            "fail",
            f"{shown}: {exc.__class__.__name__}",
            "check database.url, that the server runs and accepts this user",
        )
    finally:
        engine.dispose()
    return Check("database", "ok", f"{shown} reachable")


def _disk_check(root: Path) -> Check:
    probe = root if root.exists() else root.parent
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    gib = free / 1024**3
    if free < MIN_FREE_BYTES:
        return Check(
            "disk", "fail", f"{gib:.1f} GiB free at {probe}", "free space or move site.data_dir"
        )
    return Check("disk", "ok", f"{gib:.1f} GiB free at {probe}")


def _permission_checks(layout: DataLayout) -> list[Check]:
    if not layout.root.exists():
        return [Check("data dir", "ok", f"{layout.root} will be created (mode 711)")]
    checks = []
    mode = layout.root.stat().st_mode
    # 0711: others may traverse to the course files below, but not list or write.
    if mode & (stat.S_IRGRP | stat.S_IWGRP | stat.S_IROTH | stat.S_IWOTH):
        checks.append(
            Check(
                "data dir",
                "fail",
                f"{layout.root} is open to other accounts ({stat.filemode(mode)})",
                f"chmod 711 {layout.root}",
            )
        )
    else:
        checks.append(Check("data dir", "ok", f"{layout.root} is private"))
    if layout.secrets.exists():
        loose = [
            p.name
            for p in layout.secrets.iterdir()
            if p.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)
        ]
        if loose:
            checks.append(
                Check(
                    "secrets",
                    "fail",
                    "readable by others: " + ", ".join(loose),
                    f"chmod 600 {layout.secrets}/*",
                )
            )
        else:
            checks.append(Check("secrets", "ok", "all secret files are mode 600"))
    return checks


def _grading_dir_check(root: Path) -> Check:
    from coursehub.grading.sandbox import hidden_in_sandbox

    private = hidden_in_sandbox(root)
    if private is None:
        return Check("grading", "ok", f"grading work directories under {root}")
    return Check(
        "grading",
        "warn",
        f"{root} is under {private}, which every grading sandbox replaces with an empty one: "
        "autograding cannot run",
        f"set site.data_dir to a directory outside {private} (e.g. /srv/coursehub)",
    )


def _sandbox_checks() -> list[Check]:
    from coursehub.grading.sandbox_support import sandbox_support

    found = sandbox_support()
    box_fix = "run coursehub as root on Linux where namespaces may be made (not a locked container)"
    memory_fix = "give coursehub a writable memory cgroup (cgroup v2 with memory, or systemd)"
    return [
        Check(
            "grading sandbox",
            "ok" if found.box else "fail",
            found.box_detail,
            "" if found.box else box_fix,
        ),
        Check(
            "grading memory",
            "ok" if found.memory_cgroup else "warn",
            found.memory_detail,
            "" if found.memory_cgroup else memory_fix,
        ),
    ]


def _limits_check(limits: Limits) -> Check:
    if is_root() and systemd_is_init():
        return Check("limits", "ok", "memory, CPU and process limits enforced (systemd scopes)")
    enforced = Cgroups().enforced(limits)
    missing = [name for name, ok in enforced.items() if not ok and getattr(limits, name, None)]
    if not missing:
        how = "cgroups" if Cgroups().controllers() else "rlimits"
        return Check("limits", "ok", f"memory, CPU and process limits enforced ({how})")
    return Check(
        "limits",
        "warn",
        "not enforced here: " + ", ".join(missing),
        "run as root on a machine with writable cgroups (or systemd) to enforce them",
    )


# --- sign-in from an LMS -------------------------------------------------------------


def lms_checks(config: CoursehubConfig, platforms: list[LmsPlatform]) -> list[Check]:
    """What LTI launches need from the site: https, leave to be framed, platforms."""
    checks = []
    url = public_url(config)
    if url.startswith("https://"):
        checks.append(Check("lms https", "ok", f"{url} is https"))
    else:
        checks.append(
            Check(
                "lms https",
                "warn",
                f"site.public_url is {url}: an LMS launch is cross-site (the LMS's page "
                "posts to coursehub, often inside a frame), where browsers send only "
                "SameSite=None cookies and accept those over https only: launches will fail",
                "put HTTPS in front of coursehub and set site.public_url: https://...",
            )
        )
    if config.site.frame_ancestors:
        shown = ", ".join(config.site.frame_ancestors)
        checks.append(Check("lms frames", "ok", f"pages may be shown inside {shown}"))
    else:
        checks.append(
            Check(
                "lms frames",
                "warn",
                "site.frame_ancestors is empty: an LMS cannot show coursehub inside its pages "
                "(browsers refuse; students must open it in a new window)",
                "set site.frame_ancestors to your LMS's address, e.g. "
                f"[{', '.join(_frame_suggestions(platforms))}]",
            )
        )
    if not platforms:
        checks.append(
            Check(
                "lms platforms",
                "warn",
                "no LMS platform is registered: every launch is refused",
                "run `coursehub lti config moodle` (or canvas), add coursehub to the LMS, "
                "then `coursehub lti add-platform ...` with the values it shows",
            )
        )
    for p in platforms:
        detail = f"{p.issuer}, client id {p.client_id}, keys from {p.key_set_url}"
        loose = [u for u in (p.key_set_url, p.auth_token_url) if not _safe_url(u)]
        if not p.deployment_ids:
            checks.append(
                Check(
                    f"lms {p.name}",
                    "warn",
                    detail + "; no deployment id is registered, so every launch is refused",
                    "add the deployment id the LMS shows to the platform's deployment_ids "
                    "(or register it again with --deployment-id)",
                )
            )
        elif loose:
            checks.append(
                Check(
                    f"lms {p.name}",
                    "warn",
                    detail + "; fetched without https: " + ", ".join(loose),
                    "register the platform with its https URLs",
                )
            )
        else:
            checks.append(Check(f"lms {p.name}", "ok", detail))
    return checks


@dataclass(frozen=True)
class LmsPlatform:
    name: str
    issuer: str
    client_id: str
    key_set_url: str
    auth_token_url: str
    deployment_ids: tuple[str, ...] = ()


def _registered_platforms(config: CoursehubConfig, layout: DataLayout) -> list[LmsPlatform]:
    """coursehub.yaml's platforms and those added with `coursehub lti add-platform`
    (read from the database when it exists; doctor never creates it)."""
    found = {
        p.name: LmsPlatform(
            p.name,
            p.issuer,
            p.client_id,
            p.key_set_url,
            p.auth_token_url,
            tuple(p.deployment_ids),
        )  # fmt: skip
        for p in config.lti.platforms
    }
    url = coursehub_database_url(config, layout)
    if url.startswith("sqlite") and not Path(url.removeprefix("sqlite:///")).exists():
        return list(found.values())
    from coursehub.db.session import Database
    from coursehub.lti.platforms import PlatformStore

    db = Database(url)
    try:
        for p in PlatformStore(db).list():
            if p.source != "config":
                found[p.name] = LmsPlatform(
                    p.name, p.issuer, p.client_id, p.key_set_url, p.auth_token_url,
                    p.deployment_ids,
                )  # fmt: skip
    except Exception:  # noqa: BLE001 - unreachable or not yet upgraded: the database check says
        pass
    finally:
        db.dispose()
    return sorted(found.values(), key=lambda p: p.name)


def _safe_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or parts.hostname in ("127.0.0.1", "localhost", "::1")


def _frame_suggestions(platforms: list[LmsPlatform]) -> list[str]:
    sites = []
    for p in platforms:
        parts = urlsplit(p.issuer)
        if parts.hostname == "canvas.instructure.com":
            sites.append("https://*.instructure.com")  # the school's own Canvas domain
        elif parts.scheme and parts.netloc:
            sites.append(f"{parts.scheme}://{parts.netloc}")
    return sorted(set(sites)) or ["https://moodle.example.edu"]


def jwt_key_check(jwt: JwtSignInConfig) -> Check:
    """The key of `?auth_token=` sign-in: a private shared secret, or an RSA public key."""
    if jwt.secret_file is not None:
        secret_path = jwt.secret_file
        try:
            read_secret(secret_path)
        except FileNotFoundError:
            return Check(
                "jwt sign-in",
                "fail",
                f"auth.jwt.secret_file {secret_path} does not exist",
                f"openssl rand -hex 32 > {secret_path}; chmod 600 {secret_path} "
                "(and give the LMS plugin the same secret)",
            )
        except SetupError as exc:
            return Check(
                "jwt sign-in", "fail", str(exc), "a private (mode 600) secret of 32 bytes or more"
            )
        return Check("jwt sign-in", "ok", f"HS256 secret in {secret_path} (private)")
    path = jwt.public_key_file
    assert path is not None  # the config model requires one of the two
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Check(
            "jwt sign-in",
            "fail",
            f"auth.jwt.public_key_file {path} does not exist",
            "save the LMS plugin's RSA public key (PEM) there",
        )
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, rsa.RSAPublicKey):
        return Check(
            "jwt sign-in",
            "fail",
            f"{path} is not a PEM RSA public key",
            "save the LMS plugin's RSA public key there (-----BEGIN PUBLIC KEY-----)",
        )
    mode = path.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return Check(
            "jwt sign-in",
            "fail",
            f"{path} can be changed by other accounts ({stat.filemode(mode)}): whoever "
            "replaces the key can sign in as anyone",
            f"chmod 644 {path} (owned by the account running coursehub)",
        )
    return Check("jwt sign-in", "ok", f"RS256 public key in {path} ({key.key_size} bits)")


def moodle_compat_check(section: MoodleCompatConfig) -> Check:
    """The moodle-mod_jupyter plugin's two secrets: private, long enough, different."""
    found = []
    for key in ("jwt_secret_file", "api_token_file"):
        path = getattr(section, key)
        try:
            found.append(read_secret(path))
        except FileNotFoundError:
            missing = f"grading.moodle_compat.{key} {path} does not exist"
            fix = f"openssl rand -hex 32 > {path}; chmod 600 {path}"
            return Check("moodle plugin", "fail", missing, fix)
        except SetupError as exc:
            return Check("moodle plugin", "fail", f"grading.moodle_compat.{key}: {exc}",
                         "a private (mode 600) secret of 32 bytes or more")  # fmt: skip
    if found[0] == found[1]:
        return Check("moodle plugin", "fail", "the JWT secret and the API token are the same",
                     "make a new api_token_file and give it to the plugin")  # fmt: skip
    courses = ", ".join(f"{k} -> {v}" for k, v in section.courses.items()) or "none"
    return Check("moodle plugin", "ok", f"secrets private; Moodle courses linked: {courses}")


def print_report(checks: list[Check], console: Console) -> int:
    marks = {
        "ok": "[green]ok  [/]",
        "info": "[blue]info[/]",
        "warn": "[yellow]warn[/]",
        "fail": "[red]FAIL[/]",
    }
    for c in checks:
        console.print(f"{marks[c.status]} {c.name}: ", end="")
        console.print(c.detail, markup=False)
        if c.fix and c.status != "ok":
            console.print("       fix: ", end="")
            console.print(c.fix, markup=False)
    failed = sum(c.status == "fail" for c in checks)
    console.print(f"{failed} problem(s) found" if failed else "[green]All checks passed[/green]")
    return 1 if failed else 0
