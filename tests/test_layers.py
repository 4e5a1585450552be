"""The package's layers (docs/architecture.md), checked on every import, including the
ones inside functions: imports only go down, the service, the hub and the command line
never import each other, what runs as the student imports nothing above core, domain
packages neither print, exit nor know the web, and the only shims are the listed ones.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import grimp
import pytest

import coursehub

# Top to bottom; packages on one line are siblings and may import each other, except
# the pairs in INDEPENDENT, which never import each other whatever their layers.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("ops",),
    ("service", "hub"),
    (
        "forking",
        "accounts",
        "backups",
        "courses",
        "events",
        "grading",
        "lti",
        "monitor",
        "stats",
        "warmup",
    ),
    ("engines", "db"),
    ("config",),
    ("student",),
    ("core",),
)
INDEPENDENT = ({"service", "hub"}, {"cli", "service"}, {"cli", "hub"})
DOMAIN = (
    "accounts",
    "backups",
    "courses",
    "events",
    "grading",
    "lti",
    "monitor",
    "stats",
    "warmup",
)
# Package folders holding data files only (no code to place in a layer).
DATA_ONLY = ("starter",)
# Module paths that outlive a release, kept as thin re-exports of the new place.
SHIMS = {
    "coursehub.singleuser": "servers, images and Kubernetes values run `-m coursehub.singleuser`",
    "coursehub.server_config": "servers started earlier name it in JUPYTER_CONFIG_PATH",
    "coursehub.server_config.jupyter_server_config": "loaded from that folder",
    "coursehub.k8s": "package of the shim below",
    "coursehub.k8s.spawner": "rendered Kubernetes values name its spawner class",
    "coursehub.hub.auth_local": "rendered Kubernetes values name its authenticator class",
    "coursehub.hub.auth_github": "rendered Kubernetes values name its authenticator class",
}
# Imports that break the rules today, as (importer, imported); keep it empty.
ALLOWED: set[tuple[str, str]] = set()

WEB = ("fastapi", "starlette", "tornado", "jinja2", "uvicorn", "rich")
LEVEL = {package: i for i, line in enumerate(LAYERS) for package in line}
SRC = Path(coursehub.__file__).parent


@cache
def graph() -> grimp.ImportGraph:
    # no cache: a stale one could hide the import a change just added
    return grimp.build_graph("coursehub", include_external_packages=True, cache_dir=None)


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "coursehub" and len(parts) > 1 else None


def is_shim(module: str) -> bool:
    return any(module == s or module.startswith(s + ".") for s in SHIMS)


def wrong_imports(
    edges: list[tuple[str, str]],
) -> list[tuple[str, str, str]]:
    """(importer, imported, why) for every import that breaks a layer rule."""
    found = []
    for importer, imported in edges:
        a, b = package_of(importer), package_of(imported)
        if a is None or b is None or a == b or is_shim(importer):
            continue
        if a not in LEVEL or b not in LEVEL:
            found.append((importer, imported, "a package outside the layers"))
        elif a == "student" and b != "core":
            found.append((importer, imported, "student code imports nothing above core"))
        elif {a, b} in INDEPENDENT:
            found.append((importer, imported, f"{a} and {b} never import each other"))
        elif LEVEL[b] < LEVEL[a]:
            found.append((importer, imported, f"{a} may not import {b} (a layer above)"))
    return found


def internal_edges() -> list[tuple[str, str]]:
    g = graph()
    return [
        (m, i)
        for m in sorted(g.modules)
        if m.startswith("coursehub")
        for i in sorted(g.find_modules_directly_imported_by(m))
        if i.startswith("coursehub.")
    ]


def test_imports_only_go_down() -> None:
    wrong = [w for w in wrong_imports(internal_edges()) if w[:2] not in ALLOWED]
    assert not wrong, "imports against the layers (docs/architecture.md):\n" + "\n".join(
        f"  {a} -> {b}: {why}" for a, b, why in wrong
    )


def package_cycles(edges: list[tuple[str, str]]) -> list[set[str]]:
    """Groups of packages that import each other, directly or round a loop."""
    reach: dict[str, set[str]] = {}
    for a, b in edges:
        pa, pb = package_of(a), package_of(b)
        if pa and pb and pa != pb:
            reach.setdefault(pa, set()).add(pb)
    changed = True
    while changed:  # transitive closure; a few dozen packages
        changed = False
        for targets in reach.values():
            more = set().union(*(reach.get(t, set()) for t in targets)) - targets
            if more:
                targets |= more
                changed = True
    groups = {frozenset({a} | {b for b in t if a in reach.get(b, ())}) for a, t in reach.items()}
    return [set(g) for g in groups if len(g) > 1]


def test_no_packages_import_each_other_round_a_loop() -> None:
    assert package_cycles(internal_edges()) == []


def test_a_loop_between_packages_is_caught() -> None:
    edges = [("coursehub.courses.store", "coursehub.accounts.roster")]
    assert package_cycles(edges) == []
    edges.append(("coursehub.accounts.roster", "coursehub.courses.store"))
    assert package_cycles(edges) == [{"accounts", "courses"}]


def test_the_allow_list_holds_only_imports_that_still_exist() -> None:
    edges = set(internal_edges())
    assert not (ALLOWED - edges), f"fixed, remove from ALLOWED: {sorted(ALLOWED - edges)}"


@pytest.mark.parametrize(
    ("importer", "imported", "why"),
    [
        ("coursehub.courses.store", "coursehub.service.app", "courses may not import service"),
        ("coursehub.service.app", "coursehub.hub.bootstrap", "never import each other"),
        ("coursehub.hub.bootstrap", "coursehub.service.app", "never import each other"),
        ("coursehub.cli.main", "coursehub.service.app", "never import each other"),
        ("coursehub.cli.users", "coursehub.hub.spawners.local", "never import each other"),
        ("coursehub.config.models", "coursehub.db.models", "config may not import db"),
        ("coursehub.student.singleuser", "coursehub.config.layout", "nothing above core"),
        ("coursehub.core.errors", "coursehub.student.singleuser", "core may not import student"),
        ("coursehub.grading.store", "coursehub.newthing.x", "outside the layers"),
    ],
)
def test_a_wrong_import_is_caught(importer: str, imported: str, why: str) -> None:
    (found,) = wrong_imports([(importer, imported)])
    assert why in found[2]


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("coursehub.cli.main", "coursehub.ops.supervisor"),
        ("coursehub.service.app", "coursehub.courses.store"),
        ("coursehub.forking.kernels.manager", "coursehub.courses.kernels"),
        ("coursehub.hub.spawners.local", "coursehub.student.jupyter_config"),
        ("coursehub.student.kernel_provisioner", "coursehub.core.kernel_wire"),
    ],
)
def test_a_downward_import_passes(importer: str, imported: str) -> None:
    assert wrong_imports([(importer, imported)]) == []


def test_every_package_has_a_layer_and_every_other_module_is_a_listed_shim() -> None:
    top = {m for m in graph().modules if m.count(".") == 1 and m.startswith("coursehub.")}
    unplaced = sorted(
        m for m in top if package_of(m) not in LEVEL and package_of(m) not in DATA_ONLY
    )
    assert unplaced == sorted(m for m in top if m in SHIMS)


def _docstring(module: str) -> str:
    path = SRC.joinpath(*module.split(".")[1:])
    file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return ast.get_docstring(ast.parse(file.read_text())) or ""


def test_shims_only_re_export_and_no_other_module_is_one() -> None:
    g = graph()
    for shim in SHIMS:
        assert shim in g.modules, f"listed shim {shim} is gone: remove it from SHIMS"
        inside = [i for i in g.find_modules_directly_imported_by(shim) if i.startswith("cou")]
        assert all(not is_shim(i) or i.startswith(shim) for i in inside), shim
    moved = sorted(
        m
        for m in g.modules
        if m.startswith("coursehub.") and _docstring(m).startswith("Moved") and m not in SHIMS
    )
    assert moved == [], f"shims not in the list (only baked-in paths may have one): {moved}"


def _calls_and_imports(path: Path) -> list[str]:
    """print/exit calls and web imports in one file, as `line: what`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else None
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                name = f"{f.value.id}.{f.attr}"
            if name in ("print", "exit", "quit", "sys.exit", "os._exit"):
                found.append(f"{node.lineno}: {name}()")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            found += [f"{node.lineno}: import {n}" for n in names if n.split(".")[0] in WEB]
    return found


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_packages_never_print_exit_or_know_the_web(package: str) -> None:
    bad = {
        str(path.relative_to(SRC)): found
        for path in sorted((SRC / package).rglob("*.py"))
        if (found := _calls_and_imports(path))
    }
    assert bad == {}, "domain code raises typed errors; only cli/ prints and exits"
