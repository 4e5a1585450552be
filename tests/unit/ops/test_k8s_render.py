"""`coursehub k8s render`: the chart's values, checked for the shape coursehub relies
on (tests/helpers/chart_values.py, our own check: the chart's schema is checked by helm
on a real cluster, docs/kubernetes.md), and coursehub's manifests, checked against the
Kubernetes schemas (kubernetes-validate, offline). No cluster is reachable here:
nothing is applied."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from coursehub.cli.main import main
from coursehub.config.loader import load_config_text
from coursehub.config.translate.helm import NotKubernetes, helm_values
from coursehub.config.translate.k8s_manifests import extra_manifests, grading_job_template
from coursehub.core.errors import ConfigError
from coursehub.ops.k8s_render import render
from tests.helpers.chart_values import hub_settings, values_problems
from tests.helpers.k8s_site import SITE, load_site


def _by_kind(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"].get("name", "")): d for d in docs}


def test_values_have_the_shape_coursehub_relies_on(tmp_path: Path) -> None:
    config = load_site(tmp_path).config
    assert values_problems(helm_values(config)) == []
    # and so does the YAML file helm reads
    render(config, tmp_path / "out")
    assert values_problems(yaml.safe_load((tmp_path / "out" / "values.yaml").read_text())) == []


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("singleuser.imag", {}, "singleuser.imag: not a key coursehub renders"),
        ("singleuser.cpu.limit", "2", "singleuser.cpu.limit: expected int or float"),
        ("singleuser.uid", True, "singleuser.uid: expected int, got a boolean"),
        ("hub.config.loadRoles", {}, "hub.config: loadRoles: not a class name"),
        ("hub.services.coursehub.apiToken", "x", "apiToken is set in the values"),
        ("hub.db.url", None, "hub.db.url: missing"),
        ("singleuser.storage.type", "static", "expected one of dynamic"),
    ],
)
def test_the_shape_check_catches_mistakes(
    tmp_path: Path, path: str, value: object, problem: str
) -> None:
    values = helm_values(load_site(tmp_path).config)
    *parents, last = path.split(".")
    node = values
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    assert any(problem in p for p in values_problems(values)), values_problems(values)


def test_values_carry_database_service_images_limits_storage_and_culling(
    tmp_path: Path,
) -> None:
    values = helm_values(load_site(tmp_path).config)
    hub, single = values["hub"], values["singleuser"]
    assert hub["image"] == {"name": "registry.example.edu/coursehub-hub", "tag": "0.1.0"}
    assert hub["db"] == {
        "type": "postgres",
        "url": "postgresql://coursehub@db.example.edu:5432/coursehub",
    }
    assert hub["extraEnv"]["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "coursehub-db"
    # the service is a hub service; its token is the chart's to generate
    assert hub["services"]["coursehub"]["url"] == "http://coursehub:8000"
    assert "apiToken" not in hub["services"]["coursehub"]
    assert hub["config"]["JupyterHub"]["spawner_class"].endswith("CoursehubKubeSpawner")
    assert hub["config"]["JupyterHub"]["allow_named_servers"] is True
    # the site name is shown as text on the login page, never as markup
    assert hub["config"]["JupyterHub"]["template_vars"]["announcement_login"] == (
        "Physics &lt;hub&gt;"
    )
    assert hub["loadRoles"]["coursehub-service"]["services"] == ["coursehub"]
    assert single["image"] == {"name": "registry.example.edu/courses/base", "tag": "2025-09"}
    assert single["memory"]["limit"] == 2 * 1024**3
    assert single["cpu"]["limit"] == 2.0
    assert single["storage"]["capacity"] == "5Gi"
    assert single["storage"]["dynamic"]["storageClass"] == "fast"
    assert single["storage"]["dynamic"]["pvcNameTemplate"] == "claim-{user_server}"
    assert single["nodeSelector"] == {"pool": "students"}
    slugs = {p["slug"]: p["kubespawner_override"]["image"] for p in single["profileList"]}
    assert slugs == {
        "default": "registry.example.edu/courses/base:2025-09",
        "ds101": "registry.example.edu/courses/ds101:2025-09",
    }
    # idle: 30m, checked every 2m; a course server is stopped, never deleted
    assert values["cull"] == {
        "enabled": True,
        "timeout": 1800,
        "maxAge": 0,
        "every": 120,
        "removeNamedServers": False,
        "users": False,
    }
    assert values["ingress"]["tls"] == [{"hosts": ["hub.example.edu"], "secretName": "hub-tls"}]
    assert values["proxy"]["service"]["type"] == "ClusterIP"


def _services_of_roles_exist(values: dict) -> None:
    # the hub refuses to start when a role names a service it does not have
    c = hub_settings(values)
    services = {s["name"] for s in c.JupyterHub.services}
    for role in c.JupyterHub.load_roles:
        assert set(role.get("services", [])) <= services, role["name"]


def test_every_role_names_services_the_hub_has(tmp_path: Path) -> None:
    _services_of_roles_exist(helm_values(load_site(tmp_path).config))


def test_per_course_idle_limits_run_coursehubs_culler_in_the_hub(tmp_path: Path) -> None:
    text = SITE.replace(
        "idle: {timeout: 30m, check_every: 2m}", "idle: {courses: {exam: {timeout: 4h}}}"
    )
    values = helm_values(load_site(tmp_path, text).config)
    assert values["cull"]["enabled"] is False
    culler = values["hub"]["services"]["idle-culler"]
    assert culler["command"][:3] == ["python3", "-m", "coursehub.ops.culler"]
    assert (
        '"exam": {"max_age": null, "timeout": 14400}'
        in culler["environment"]["COURSEHUB_CULL_POLICY"]
    )
    assert values["hub"]["loadRoles"]["idle-culler"]["services"] == ["idle-culler"]
    _services_of_roles_exist(values)
    assert "jupyterhub-idle-culler" not in {
        s["name"] for s in hub_settings(values).JupyterHub.services
    }
    assert values_problems(values) == []


@pytest.mark.parametrize("version", ["1.30.0", kubernetes_validate.latest_version()])
def test_every_manifest_matches_the_kubernetes_schemas(tmp_path: Path, version: str) -> None:
    config = load_site(tmp_path).config
    for doc in [*extra_manifests(config), grading_job_template(config, "ds101")]:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_schema_check_catches_a_broken_manifest(tmp_path: Path) -> None:
    deployment = _by_kind(extra_manifests(load_site(tmp_path).config))[("Deployment", "coursehub")]
    deployment["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.30.0", strict=True)


def test_service_reachable_only_from_hub_and_proxy_graders_reach_nothing(tmp_path: Path) -> None:
    docs = _by_kind(extra_manifests(load_site(tmp_path).config))
    policy = docs[("NetworkPolicy", "coursehub-service")]["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "service"
    sources = [f["podSelector"]["matchLabels"]["component"] for f in policy["ingress"][0]["from"]]
    # student pods (component singleuser-server) are not among them: they post events
    # through the proxy, like a browser, with their server's token
    assert sources == ["hub", "proxy"]
    assert policy["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8000}]
    grader = docs[("NetworkPolicy", "coursehub-grader-no-network")]["spec"]
    assert grader["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in grader and "egress" not in grader
    values = helm_values(load_site(tmp_path).config)
    env = values["singleuser"]["extraEnv"]
    assert env["COURSEHUB_EVENTS_URL"] == "http://proxy-public/services/coursehub/api/events"
    assert values["singleuser"]["networkPolicy"]["egressAllowRules"]["privateIPs"] is False


def test_course_data_is_shared_read_only_and_the_service_writes_it(tmp_path: Path) -> None:
    config = load_site(tmp_path).config
    docs = _by_kind(extra_manifests(config))
    courses = docs[("PersistentVolumeClaim", "coursehub-courses")]["spec"]
    assert courses["accessModes"] == ["ReadWriteMany"]
    assert courses["storageClassName"] == "nfs-rwx"
    pod = docs[("Deployment", "coursehub")]["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert "readOnly" not in mounts["/srv/coursehub/courses"]
    student_volume = helm_values(config)["singleuser"]["storage"]["extraVolumes"][0]
    assert student_volume["persistentVolumeClaim"] == {
        "claimName": "coursehub-courses",
        "readOnly": True,
    }


def test_grading_job_has_limits_no_privileges_and_the_course_image(tmp_path: Path) -> None:
    text = SITE.replace("servers:", "grading: {limits: {memory: 512M, wall_time: 3m}}\nservers:")
    job = grading_job_template(load_site(tmp_path, text).config, "ds101")
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.example.edu/courses/ds101:2025-09"
    assert container["resources"]["limits"]["memory"] == "512Mi"
    assert job["spec"]["activeDeadlineSeconds"] == 180 and job["spec"]["backoffLimit"] == 0
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # its labels put it under the no-network policy
    assert pod and job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == (
        "grader"
    )


def test_rendered_files_hold_no_secret_and_commands_create_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "gh-secret"
    secret_file.write_text("ghs-very-secret-value\n")
    text = SITE.replace(
        'database_url: "postgresql://coursehub@db.example.edu:5432/coursehub"', ""
    ).replace(
        "roles:",
        'database: {url: "postgresql://coursehub:pg-very-secret@db.example.edu:5432/coursehub"}\n'
        "auth: {methods: [local, github], github: {client_id: abc, client_secret_file: gh-secret,"
        " organization: physics}}\nroles:",
    )
    (tmp_path / "coursehub.yaml").write_text(text)
    out = tmp_path / "out"
    assert main(["--config", str(tmp_path / "coursehub.yaml"), "k8s", "render", str(out)]) == 0
    printed = capsys.readouterr().out
    written = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "pg-very-secret" not in written and "ghs-very-secret-value" not in written
    values = yaml.safe_load((out / "values.yaml").read_text())
    assert values["hub"]["db"]["url"] == "postgresql://coursehub@db.example.edu:5432/coursehub"
    gh = values["hub"]["config"]["CoursehubGitHubAuthenticator"]
    assert "client_secret" not in gh and gh["allowed_organizations"] == ["physics"]
    assert values["hub"]["extraEnv"]["OAUTH_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "coursehub-github",
        "key": "client-secret",
    }
    assert "pg-very-secret" not in printed
    assert (
        "kubectl --namespace physics create secret generic coursehub-db "
        "--from-literal=password='THE-DATABASE-PASSWORD'" in printed
    )
    assert f"--from-file=client-secret={secret_file}" in printed
    assert (
        "helm upgrade --install coursehub jupyterhub/jupyterhub --namespace physics "
        f"--version 4.4.0 --values {out / 'values.yaml'}" in printed
    )
    assert (
        "helm template coursehub jupyterhub/jupyterhub --namespace physics "
        f"--version 4.4.0 --values {out / 'values.yaml'} > /dev/null" in printed
    )
    assert f"kubectl apply --namespace physics -f {out / 'coursehub-extras.yaml'}" in printed
    assert "Every manifest matches the Kubernetes 1.30.0 schemas." in printed
    extras = list(yaml.safe_load_all((out / "coursehub-extras.yaml").read_text()))
    assert [d["kind"] for d in extras].count("Secret") == 0
    assert (
        "FROM quay.io/jupyterhub/k8s-hub:4.4.0" in (out / "hub-image" / "Containerfile").read_text()
    )


def test_render_needs_the_kubernetes_backend(tmp_path: Path) -> None:
    with pytest.raises(NotKubernetes, match="set spawn.backend: kubernetes"):
        render(load_config_text("").config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (
            'database_url: "postgresql://coursehub@db.example.edu:5432/coursehub"',
            "",
            "needs PostgreSQL",
        ),
        ("namespace: physics", "spawn.kubernetes.namespace", "lower-case letters"),
        ('image: "registry.example.edu/courses/base:2025-09"', "spawn.kubernetes.image", "no tag"),
        ("storage_class: fast", "spawn.kubernetes.storage.storage_class", "StorageClass"),
        ("size: 5G", "spawn.kubernetes.storage.size", "expected a size"),
        ("{pool: students}", "spawn.kubernetes.node_selector", "not a node label"),
        ("host: hub.example.edu", "spawn.kubernetes.ingress.host", "not a host name"),
    ],
)
def test_bad_kubernetes_settings_name_the_key_and_the_fix(
    tmp_path: Path, change: str, key: str, message: str
) -> None:
    bad = {
        'database_url: "postgresql://coursehub@db.example.edu:5432/coursehub"': "",
        "namespace: physics": "namespace: Physics_Dept",
        'image: "registry.example.edu/courses/base:2025-09"': "image: registry.example.edu/base",
        "storage_class: fast": "storage_class: Fast SSD",
        "size: 5G": "size: lots",
        "{pool: students}": "{'pool name': students}",
        "host: hub.example.edu": "host: https://hub.example.edu",
    }[change]
    with pytest.raises(ConfigError) as info:
        load_site(tmp_path, SITE.replace(change, bad))
    text = "\n".join(str(p) for p in info.value.problems)
    assert key in text and message in text


def test_the_hub_gets_coursehubs_spawner_database_services_and_login_page(
    tmp_path: Path,
) -> None:
    c = hub_settings(helm_values(load_site(tmp_path).config), namespace="physics")
    assert c.JupyterHub.spawner_class == "coursehub.hub.spawners.kubernetes.CoursehubKubeSpawner"
    assert c.JupyterHub.db_url == "postgresql://coursehub@db.example.edu:5432/coursehub"
    assert c.CoursehubKubeSpawner.coursehub_db_url == c.JupyterHub.db_url
    services = {s["name"]: s for s in c.JupyterHub.services}
    # every token is the chart's to generate, including the token-only CLI service's
    assert services["coursehub"]["api_token"] == "token-of-coursehub"
    assert services["coursehub"]["url"] == "http://coursehub:8000"
    assert services["coursehub-cli"]["api_token"] == "token-of-coursehub-cli"
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["coursehub-service"]["services"] == ["coursehub"]
    # hub.extraConfig points JupyterHub at coursehub's login page inside its package
    (templates,) = c.JupyterHub.template_paths
    assert (Path(templates) / "login.html").is_file()
