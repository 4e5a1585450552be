"""What the Zero-to-JupyterHub chart (4.x) does with the values keys coursehub renders,
written here from the chart's configuration reference
(https://z2jh.jupyter.org/en/stable/resources/reference.html).

- `values_problems`: the keys coursehub writes, their types and the ones it relies on
  being there. Our own check, not the chart's schema: `helm template` / `helm lint`
  check that on a machine with helm (docs/kubernetes.md).
- `hub_settings`: the traitlets Config the chart's hub would get from those keys,
  for JupyterHub and KubeSpawner. Only coursehub's keys are mapped; chart defaults
  coursehub does not set (cloud-metadata init container, tolerations, node affinity,
  extra pod labels, the default memory guarantee) are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from traitlets.config import Config

Check = Callable[[Any], str | None]


def _kind(*types: type, none: bool = False) -> Check:
    names = " or ".join(t.__name__ for t in types) + (" or null" if none else "")

    def check(value: Any) -> str | None:
        if value is None and none:
            return None
        # YAML true is not a number to the chart
        if isinstance(value, bool) and bool not in types:
            return f"expected {names}, got a boolean"
        return None if isinstance(value, types) else f"expected {names}, got {value!r}"

    return check


def _one_of(*choices: str) -> Check:
    return lambda v: None if v in choices else f"expected one of {', '.join(choices)}, got {v!r}"


def _list_of(item: Check) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return f"expected a list, got {value!r}"
        return next((f"[{i}]: {p}" for i, v in enumerate(value) if (p := item(v))), None)

    return check


def _map_of(item: Check, key: Check | None = None) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"expected a mapping, got {value!r}"
        for k, v in value.items():
            problem = (key(k) if key else None) or item(v)
            if problem:
                return f"{k}: {problem}"
        return None

    return check


def _fields(required: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    """A mapping with these keys (any other key passes: Kubernetes objects, roles)."""

    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"expected a mapping, got {value!r}"
        for k in required:
            if k not in value:
                return f"{k} is missing"
        for k, item in {**required, **(optional or {})}.items():
            if k in value and (problem := item(value[k])):
                return f"{k}: {problem}"
        return None

    return check


string, integer, boolean = _kind(str), _kind(int), _kind(bool)
number = _kind(int, float)
strings = _list_of(string)


def _config_section(name: Any) -> str | None:
    # hub.config: each key is a Configurable class name; the chart's hub refuses to
    # start on one that does not begin upper-case (hub.loadRoles put under hub.config)
    return None if isinstance(name, str) and name[:1].isupper() else "not a class name"


def _env_value(value: Any) -> str | None:
    # hub.extraEnv / singleuser.extraEnv: NAME: "value" or NAME: {valueFrom: ...}
    if isinstance(value, str):
        return None
    return _fields({"valueFrom": _kind(dict)})(value)


def _no_api_token(service: Any) -> str | None:
    # hub.services.<name>.apiToken left out: the chart generates it into its Secret
    if not isinstance(service, dict):
        return f"expected a mapping, got {service!r}"
    return "apiToken is set in the values" if "apiToken" in service else None


def _profiles(value: Any) -> str | None:
    # singleuser.profileList: KubeSpawner.profile_list entries
    entry = _fields(
        {"display_name": string, "slug": string, "kubespawner_override": _kind(dict)},
        {"default": boolean},
    )
    problem = _list_of(entry)(value)
    if problem:
        return problem
    slugs = [p["slug"] for p in value]
    if len(set(slugs)) != len(slugs):
        return f"slugs repeat: {slugs}"
    if sum(bool(p.get("default")) for p in value) != 1:
        return "expected exactly one default profile"
    return None


REQUIRED, OPTIONAL = True, False
_named = _list_of(_fields({"name": string}))

# Every key coursehub writes, as a dotted path: (must it be there, its check). A key
# not listed (nor inside one listed) is a mistake, like a misspelt chart key.
SHAPE: dict[str, tuple[bool, Check]] = {
    "fullnameOverride": (REQUIRED, _one_of("")),  # names.py relies on the short names
    "hub.image.name": (REQUIRED, string),
    "hub.image.tag": (REQUIRED, string),
    "hub.resources": (REQUIRED, _fields({"requests": _kind(dict), "limits": _kind(dict)})),
    "hub.db.type": (REQUIRED, _one_of("postgres")),
    "hub.db.url": (REQUIRED, string),
    "hub.extraEnv": (REQUIRED, _map_of(_env_value)),
    "hub.config": (REQUIRED, _map_of(_kind(dict), key=_config_section)),
    "hub.services": (REQUIRED, _map_of(_no_api_token)),
    "hub.loadRoles": (
        REQUIRED,
        _map_of(
            _fields({"name": string}, {"scopes": strings, "services": strings, "users": strings})
        ),
    ),
    "hub.extraConfig": (REQUIRED, _map_of(string)),
    "hub.networkPolicy.enabled": (REQUIRED, boolean),
    "hub.extraVolumes": (OPTIONAL, _named),
    "hub.extraVolumeMounts": (OPTIONAL, _list_of(_fields({"name": string, "mountPath": string}))),
    "proxy.service.type": (REQUIRED, _one_of("ClusterIP", "LoadBalancer")),
    "singleuser.image.name": (REQUIRED, string),
    "singleuser.image.tag": (REQUIRED, string),
    "singleuser.cmd": (REQUIRED, strings),
    "singleuser.defaultUrl": (REQUIRED, string),
    "singleuser.startTimeout": (REQUIRED, integer),
    "singleuser.uid": (REQUIRED, integer),
    "singleuser.fsGid": (REQUIRED, integer),
    "singleuser.memory.limit": (OPTIONAL, integer),
    "singleuser.memory.guarantee": (OPTIONAL, integer),
    "singleuser.cpu.limit": (OPTIONAL, number),
    "singleuser.cpu.guarantee": (OPTIONAL, number),
    "singleuser.storage.type": (REQUIRED, _one_of("dynamic")),
    "singleuser.storage.capacity": (REQUIRED, string),
    "singleuser.storage.homeMountPath": (REQUIRED, string),
    "singleuser.storage.dynamic.storageClass": (REQUIRED, _kind(str, none=True)),
    "singleuser.storage.dynamic.pvcNameTemplate": (REQUIRED, string),
    "singleuser.storage.dynamic.volumeNameTemplate": (REQUIRED, string),
    "singleuser.storage.dynamic.storageAccessModes": (REQUIRED, strings),
    "singleuser.storage.extraVolumes": (REQUIRED, _named),
    "singleuser.extraEnv": (REQUIRED, _map_of(_env_value)),
    "singleuser.networkPolicy.enabled": (REQUIRED, boolean),
    "singleuser.networkPolicy.egressAllowRules.privateIPs": (REQUIRED, boolean),
    "singleuser.networkPolicy.egressAllowRules.cloudMetadataServer": (REQUIRED, boolean),
    "singleuser.profileList": (REQUIRED, _profiles),
    "singleuser.nodeSelector": (OPTIONAL, _map_of(string)),
    "cull.enabled": (REQUIRED, boolean),
    "cull.timeout": (REQUIRED, integer),
    "cull.maxAge": (REQUIRED, integer),
    "cull.every": (REQUIRED, integer),
    "cull.removeNamedServers": (REQUIRED, boolean),
    "cull.users": (REQUIRED, boolean),
    "scheduling.userScheduler.enabled": (REQUIRED, boolean),
    "ingress.enabled": (OPTIONAL, boolean),
    "ingress.hosts": (OPTIONAL, strings),
    "ingress.tls": (OPTIONAL, _list_of(_fields({"hosts": strings, "secretName": string}))),
}


def values_problems(values: dict[str, Any]) -> list[str]:
    """Each key of `values` not among SHAPE's, each listed key with a wrong value, each
    required key missing; [] when the values have the shape coursehub relies on."""
    problems: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if path in SHAPE:
                if problem := SHAPE[path][1](value):
                    problems.append(f"{path}: {problem}")
            elif isinstance(value, dict) and any(p.startswith(path + ".") for p in SHAPE):
                walk(value, path + ".")
            else:
                problems.append(f"{path}: not a key coursehub renders")

    walk(values, "")
    for path, (required, _) in SHAPE.items():
        if required and _get(values, path) is _MISSING:
            problems.append(f"{path}: missing")
    return problems


_MISSING = object()


def _get(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def hub_settings(
    values: dict[str, Any],
    *,
    namespace: str = "default",
    api_token: Callable[[str], str] = lambda service: f"token-of-{service}",
) -> Config:
    """The hub's Config for `values`, key by key as the chart documents each one.

    `api_token(name)` stands in for the token the chart generates per hub service.
    """
    c = Config()
    hub, single = values["hub"], values["singleuser"]

    # the hub runs KubeSpawner in the release's namespace
    c.KubeSpawner.namespace = namespace
    # hub.db.url (hub.db.type postgres): JupyterHub.db_url
    c.JupyterHub.db_url = hub["db"]["url"]

    # hub.services.<name>: a JupyterHub.services entry named <name>, its api_token the
    # chart's generated one. cull.enabled adds the chart's own culler, with its role.
    services = [
        {**s, "name": name, "api_token": api_token(name)} for name, s in hub["services"].items()
    ]
    roles = [{"name": name, **role} for name, role in hub["loadRoles"].items()]
    if values["cull"]["enabled"]:
        services.append({"name": "jupyterhub-idle-culler"})
        roles.append(
            {
                "name": "jupyterhub-idle-culler",
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
                "services": ["jupyterhub-idle-culler"],
            }
        )
    c.JupyterHub.services = services
    # hub.loadRoles.<name>: a JupyterHub.load_roles entry named <name>
    c.JupyterHub.load_roles = roles

    # singleuser.image.name / .tag: KubeSpawner.image "name:tag"
    image = single["image"]
    c.KubeSpawner.image = f"{image['name']}:{image['tag']}" if image["tag"] else image["name"]
    # singleuser.cmd / defaultUrl / startTimeout: Spawner.cmd / default_url / start_timeout
    c.Spawner.cmd = single["cmd"]
    c.Spawner.default_url = single["defaultUrl"]
    c.KubeSpawner.start_timeout = single["startTimeout"]
    # singleuser.uid / fsGid: KubeSpawner.uid / fs_gid
    c.KubeSpawner.uid = single["uid"]
    c.KubeSpawner.fs_gid = single["fsGid"]
    # singleuser.memory.limit / guarantee: KubeSpawner.mem_limit / mem_guarantee
    if "memory" in single:
        c.KubeSpawner.mem_limit = single["memory"]["limit"]
        c.KubeSpawner.mem_guarantee = single["memory"]["guarantee"]
    # singleuser.cpu.limit / guarantee: KubeSpawner.cpu_limit / cpu_guarantee
    if "cpu" in single:
        c.KubeSpawner.cpu_limit = single["cpu"]["limit"]
        c.KubeSpawner.cpu_guarantee = single["cpu"]["guarantee"]
    # singleuser.extraEnv: KubeSpawner.environment
    c.KubeSpawner.environment = dict(single["extraEnv"])
    # singleuser.nodeSelector: KubeSpawner.node_selector
    if "nodeSelector" in single:
        c.KubeSpawner.node_selector = dict(single["nodeSelector"])
    # singleuser.profileList: KubeSpawner.profile_list
    c.KubeSpawner.profile_list = single["profileList"]
    # scheduling.userScheduler.enabled: pods go to the chart's user-scheduler
    if values["scheduling"]["userScheduler"]["enabled"]:
        c.KubeSpawner.scheduler_name = "user-scheduler"

    # singleuser.storage, type dynamic: a PVC per server (pvcNameTemplate), made if
    # missing, of storageClass / storageAccessModes / capacity, mounted at
    # homeMountPath as volume volumeNameTemplate
    storage = single["storage"]
    dynamic = storage["dynamic"]
    c.KubeSpawner.pvc_name_template = dynamic["pvcNameTemplate"]
    c.KubeSpawner.storage_pvc_ensure = True
    if dynamic["storageClass"] is not None:  # null: the cluster's default class
        c.KubeSpawner.storage_class = dynamic["storageClass"]
    c.KubeSpawner.storage_access_modes = dynamic["storageAccessModes"]
    c.KubeSpawner.storage_capacity = storage["capacity"]
    home = dynamic["volumeNameTemplate"]
    volumes = {home: {"name": home, "persistentVolumeClaim": {"claimName": "{pvc_name}"}}}
    mounts = {home: {"name": home, "mountPath": storage["homeMountPath"]}}
    # singleuser.storage.extraVolumes / extraVolumeMounts: added by name; the chart
    # gives KubeSpawner mappings keyed by name, so the spawner's dict form is used
    for volume in storage.get("extraVolumes") or []:
        volumes[volume["name"]] = volume
    for i, mount in enumerate(storage.get("extraVolumeMounts") or []):
        mounts[f"{i}-{mount['name']}"] = mount
    c.KubeSpawner.volumes = volumes
    c.KubeSpawner.volume_mounts = mounts

    # hub.config.<Class>.<trait>: passed through last, so it wins over the above
    for section, settings in hub["config"].items():
        c[section].update(settings)
    # hub.extraConfig.<name>: Python run after that, in name order, with `c` in scope
    for _, code in sorted(hub["extraConfig"].items()):
        exec(code, {"c": c})
    return c
