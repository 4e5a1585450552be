"""Names shared by the rendered values, the extra manifests and the spawner.

The Zero-to-JupyterHub chart (4.x, fullnameOverride "") names its parts hub,
proxy-public, proxy-api and its Secret hub; its pods carry `component` labels.
"""

from __future__ import annotations

from coursehub.core.roles import SERVICE_NAME

CHART_REPO = "https://hub.jupyter.org/helm-chart/"
CHART_VERSION = "4.4.0"  # the z2jh 4.x release the rendered values are written for
K8S_VERSION = "1.30.0"  # oldest Kubernetes the manifests are validated for

SERVICE_PORT = 8000
HUB_API_URL = "http://hub:8081/hub/api"
PROXY_PUBLIC_URL = "http://proxy-public"  # port 80 -> the proxy pod's 8000

# inside pods
HOME = "/home/jovyan"  # student volume; uid 1000, gid 100 as in Jupyter's images
STUDENT_UID = 1000
STUDENT_GID = 100
COURSE_MOUNT = "/srv/coursehub/course"  # the course's checkout, read-only
DATA_DIR = "/srv/coursehub"  # the service's data directory
COURSES_DIR = f"{DATA_DIR}/courses"  # every course's checkout, shared read-only
SECRETS_DIR = "/etc/coursehub/secrets"  # key files mounted from Secrets

# objects coursehub adds next to the chart's
DATA_CLAIM = "coursehub-data"  # the service's own files (ReadWriteOnce)
COURSES_CLAIM = "coursehub-courses"  # course checkouts (ReadWriteMany, read-only to students)
COURSE_VOLUME = "course-data"
DB_SECRET = "coursehub-db"
GITHUB_SECRET = "coursehub-github"
KEYS_SECRET = "coursehub-keys"  # sign-in and grading key files (auth.jwt, grading.remote_api)
HUB_SECRET = "hub"  # made by the chart; holds the services' API tokens
SERVICE_TOKEN_KEY = f"hub.services.{SERVICE_NAME}.apiToken"

APP_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
SERVICE_LABELS = {APP_LABEL: "coursehub", COMPONENT_LABEL: "service"}
GRADER_LABELS = {APP_LABEL: "coursehub", COMPONENT_LABEL: "grader"}


def split_image(reference: str) -> tuple[str, str]:
    """("registry/name", "tag") as the chart's image.name and image.tag."""
    name, digest = reference.partition("@")[::2]
    head, _, last = name.rpartition("/")
    repo, colon, tag = last.partition(":")
    base = f"{head}/{repo}" if head else repo
    if not colon:
        return (f"{base}@{digest}", "") if digest else (base, "")
    return base, f"{tag}@{digest}" if digest else tag
