"""The Kubernetes objects coursehub adds next to the chart's. Pure.

- the coursehub service (Deployment + Service) the hub knows as hub.services.coursehub,
- its volumes: its own files, and the course checkouts students mount read-only,
- NetworkPolicies: only the hub and the proxy reach the service (student pods reach
  the event endpoint through the proxy, like a browser); grading pods reach nothing,
- the shape of a grading Job (limits, no network, no privileges), kept apart.
"""

from __future__ import annotations

import json
from typing import Any

from coursehub.config.containers import KubernetesSpawnConfig
from coursehub.config.models import CoursehubConfig
from coursehub.config.translate import k8s_names as names
from coursehub.config.translate.helm import (
    cluster_database_url,
    kubernetes_section,
    quantity,
    service_layout,
    service_machine,
)
from coursehub.config.translate.jupyterhub import public_url, service_environment
from coursehub.core.roles import SERVICE_NAME

# Labels the chart's own NetworkPolicies look for: the service may call the hub's API
# and reach course servers through the proxy.
CHART_ACCESS_LABELS = {
    "hub.jupyter.org/network-access-hub": "true",
    "hub.jupyter.org/network-access-proxy-http": "true",
}


def extra_manifests(config: CoursehubConfig) -> list[dict[str, Any]]:
    """Objects to `kubectl apply` after the chart is installed (no Secret among them)."""
    k8s = kubernetes_section(config)
    return [
        _claim(names.DATA_CLAIM, "ReadWriteOnce", k8s.storage.storage_class, k8s, data=True),
        _claim(
            names.COURSES_CLAIM,
            "ReadWriteMany",
            k8s.storage.course_data_storage_class,
            k8s,
            data=False,
        ),
        _deployment(config, k8s),
        _service(k8s),
        _service_policy(config, k8s),
        _grader_policy(k8s),
    ]


def _meta(name: str, k8s: KubernetesSpawnConfig, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": k8s.namespace, "labels": dict(labels)}


def _claim(
    name: str, mode: str, storage_class: str | None, k8s: KubernetesSpawnConfig, *, data: bool
) -> dict[str, Any]:
    size = k8s.storage.course_data_size
    spec: dict[str, Any] = {
        "accessModes": [mode],
        "resources": {"requests": {"storage": quantity(size)}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    labels = {names.APP_LABEL: "coursehub", names.COMPONENT_LABEL: "data" if data else "courses"}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(name, k8s, labels),
        "spec": spec,
    }


def service_env(config: CoursehubConfig) -> list[dict[str, Any]]:
    """The service container's environment: what the hub gives a managed service, ours,
    and secrets by reference only."""
    prefix = f"/services/{SERVICE_NAME}/"
    plain = {
        "JUPYTERHUB_SERVICE_NAME": SERVICE_NAME,
        "JUPYTERHUB_API_URL": names.HUB_API_URL,
        "JUPYTERHUB_CLIENT_ID": f"service-{SERVICE_NAME}",
        "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:{names.SERVICE_PORT}",
        "JUPYTERHUB_SERVICE_PREFIX": prefix,
        "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{prefix}oauth_callback",
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_PUBLIC_URL": public_url(config),
        "JUPYTERHUB_OAUTH_ACCESS_SCOPES": json.dumps([f"access:services!service={SERVICE_NAME}"]),
    }
    ours = service_environment(
        config, service_layout(), service_machine(config), cluster_database_url(config)
    )
    ours["COURSEHUB_SPAWN_BACKEND"] = "kubernetes"
    ours["COURSEHUB_OPS"] = _ops_through_proxy(ours["COURSEHUB_OPS"])
    ours["COURSEHUB_GRADING"] = _mounted_grading_keys(ours["COURSEHUB_GRADING"])
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in {**plain, **ours}.items()]
    env.append(
        {
            "name": "JUPYTERHUB_API_TOKEN",
            "valueFrom": {
                "secretKeyRef": {"name": names.HUB_SECRET, "key": names.SERVICE_TOKEN_KEY}
            },
        }
    )
    env.append(
        {
            "name": "PGPASSWORD",
            "valueFrom": {
                "secretKeyRef": {"name": names.DB_SECRET, "key": "password", "optional": True}
            },
        }
    )
    return env


def _ops_through_proxy(ops_json: str) -> str:
    ops = json.loads(ops_json)
    ops["proxy_url"] = names.PROXY_PUBLIC_URL  # the service reaches course servers here
    return json.dumps(ops, sort_keys=True)


def _mounted_grading_keys(grading_json: str) -> str:
    grading = json.loads(grading_json)
    remote = grading["remote_api"]
    for key, name in (
        ("secret_file", "grading-secret"),
        ("public_key_file", "grading-public-key.pem"),
    ):
        if remote.get(key):
            remote[key] = f"{names.SECRETS_DIR}/{name}"
    return json.dumps(grading)


def _deployment(config: CoursehubConfig, k8s: KubernetesSpawnConfig) -> dict[str, Any]:
    res = k8s.service_resources
    resources = {
        "requests": {"memory": quantity(res.memory), "cpu": str(res.cpu)},
        "limits": {"memory": quantity(res.memory), "cpu": str(res.cpu)},
    }
    pod_labels = {**names.SERVICE_LABELS, **CHART_ACCESS_LABELS}
    container: dict[str, Any] = {
        "name": "coursehub",
        "image": k8s.hub_image,
        "command": ["python3", "-m", "coursehub.service"],
        "env": service_env(config),
        "ports": [{"name": "http", "containerPort": names.SERVICE_PORT}],
        "resources": resources,
        "readinessProbe": {
            "httpGet": {"path": f"/services/{SERVICE_NAME}/health", "port": "http"},
            "periodSeconds": 10,
        },
        "volumeMounts": [
            {"name": "data", "mountPath": names.DATA_DIR},
            {"name": "courses", "mountPath": names.COURSES_DIR},
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    volumes: list[dict[str, Any]] = [
        {"name": "data", "persistentVolumeClaim": {"claimName": names.DATA_CLAIM}},
        {"name": "courses", "persistentVolumeClaim": {"claimName": names.COURSES_CLAIM}},
    ]
    if config.grading.remote_api.enabled:
        container["volumeMounts"].append(
            {"name": "keys", "mountPath": names.SECRETS_DIR, "readOnly": True}
        )
        volumes.append({"name": "keys", "secret": {"secretName": names.KEYS_SECRET}})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(SERVICE_NAME, k8s, names.SERVICE_LABELS),
        "spec": {
            "replicas": 1,
            # one writer of the data volume at a time
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": dict(names.SERVICE_LABELS)},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1000,
                        "fsGroup": 1000,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def _service(k8s: KubernetesSpawnConfig) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(SERVICE_NAME, k8s, names.SERVICE_LABELS),
        "spec": {
            "selector": dict(names.SERVICE_LABELS),
            "ports": [{"name": "http", "port": names.SERVICE_PORT, "targetPort": "http"}],
        },
    }


def _chart_pods(component: str, k8s: KubernetesSpawnConfig) -> dict[str, Any]:
    return {
        "podSelector": {
            "matchLabels": {"app": "jupyterhub", "release": k8s.release, "component": component}
        }
    }


def _service_policy(config: CoursehubConfig, k8s: KubernetesSpawnConfig) -> dict[str, Any]:
    """Only the hub (API, OAuth) and the proxy (pages and the event endpoint, for
    browsers and student pods alike) reach the service's port; nothing else does."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(f"{SERVICE_NAME}-service", k8s, names.SERVICE_LABELS),
        "spec": {
            "podSelector": {"matchLabels": dict(names.SERVICE_LABELS)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [_chart_pods("hub", k8s), _chart_pods("proxy", k8s)],
                    "ports": [{"protocol": "TCP", "port": names.SERVICE_PORT}],
                }
            ],
        },
    }


def _grader_policy(k8s: KubernetesSpawnConfig) -> dict[str, Any]:
    """Grading pods: no traffic in or out (not even DNS)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(f"{SERVICE_NAME}-grader-no-network", k8s, names.GRADER_LABELS),
        "spec": {
            "podSelector": {"matchLabels": dict(names.GRADER_LABELS)},
            "policyTypes": ["Ingress", "Egress"],
        },
    }


def grading_job_template(config: CoursehubConfig, course: str | None = None) -> dict[str, Any]:
    """One grading run as a Job: the course image, grading.limits, no network (the
    policy above), no privileges, no service-account token, a bounded scratch dir."""
    k8s = kubernetes_section(config)
    limits = config.grading.limits
    image = k8s.image
    if course and course in config.courses.settings and config.courses.settings[course].image:
        image = config.courses.settings[course].image or image
    labels = {**names.GRADER_LABELS, "coursehub/course": course or "any"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": f"{SERVICE_NAME}-grade-",
            "namespace": k8s.namespace,
            "labels": labels,
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": limits.wall_time,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65534,
                        "runAsGroup": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "grade",
                            "image": image,
                            "workingDir": "/work",
                            "command": ["python3", "-I", "-m", "coursehub.grading.kernel_launch"],
                            "resources": {
                                "requests": {"memory": quantity(limits.memory), "cpu": "1"},
                                "limits": {"memory": quantity(limits.memory), "cpu": "1"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "work", "mountPath": "/work"},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "work", "emptyDir": {"sizeLimit": quantity(limits.file_size)}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": quantity(limits.file_size)}},
                    ],
                },
            },
        },
    }
