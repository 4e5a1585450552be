# Loaded by every coursehub student server (the spawner puts this folder on
# JUPYTER_CONFIG_PATH). Values come from the environment the spawner sets.
import json
import os

# get_config is provided by Jupyter when it loads this file
c = get_config()  # type: ignore[name-defined]  # noqa: F821

# Sites that may show JupyterLab in an iframe (site.frame_ancestors): LMS pages
# embedding notebook links. Without it jupyterhub-singleuser refuses every frame.
_ancestors = os.environ.get("COURSEHUB_FRAME_ANCESTORS", "").split()
if _ancestors:
    _prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
    c.ServerApp.tornado_settings = {
        "headers": {
            "Content-Security-Policy": "frame-ancestors 'self' "
            + " ".join(_ancestors)
            + f"; report-uri {_prefix}api/security/csp-report"
        }
    }
    # On https sites the hub asks for SameSite=None cookies (JUPYTERHUB_COOKIE_OPTIONS),
    # which its OAuth cookies get; JupyterLab's own _xsrf cookie needs the same inside
    # a cross-site LMS iframe, or every save from the frame is refused.
    _cookie_options = json.loads(os.environ.get("JUPYTERHUB_COOKIE_OPTIONS") or "{}")
    _same_site = {k.lower(): str(v).lower() for k, v in _cookie_options.items()}.get("samesite")
    if _same_site == "none":
        c.ServerApp.tornado_settings["xsrf_cookie_kwargs"] = {"samesite": "None", "secure": True}

# Lab-wide setting defaults (students may still change them): Jupytext and MyST
# Markdown course notebooks open as notebooks, not as text; course servers save every
# few seconds (events.autosave). The hub writes the site's copy; the packaged one is
# the fallback.
c.LabApp.app_settings_dir = os.environ.get("COURSEHUB_LAB_SETTINGS_DIR") or os.path.join(
    os.path.dirname(__file__), "lab-settings"
)

# Jupyter's data folder is coursehub's read-only one (student/lockdown.py); notebook
# trust (the signatures database and its secret) stays the student's own data, in
# their home where it always was.
c.NotebookNotary.data_dir = os.path.join(os.path.expanduser("~"), ".local", "share", "jupyter")

# JupyterLab's user settings and workspaces: the student's, in their home. Said here
# because LabApp takes its defaults when jupyterlab is imported, which for a forked
# server happened in the template, as root (/root/.jupyter).
if os.environ.get("JUPYTERLAB_SETTINGS_DIR"):
    c.LabApp.user_settings_dir = os.environ["JUPYTERLAB_SETTINGS_DIR"]
if os.environ.get("JUPYTERLAB_WORKSPACES_DIR"):
    c.LabApp.workspaces_dir = os.environ["JUPYTERLAB_WORKSPACES_DIR"]

# Students install nothing into the server's environment (it is not theirs to write,
# and nothing from their home is loaded: student/lockdown.py), so JupyterLab's extension
# manager only lists what is there. Its PyPI manager would also make an HTTPS client at
# every server start (loading the CA bundle: a sixth of a forked server's start-up CPU)
# to search an index no student can install from.
c.LabApp.extension_manager = "readonly"

# jupyter-lsp's search for language servers (servers.language_servers, off by default):
# it reads the entry points of every installed package and, where Node is installed,
# runs `npm prefix -g`, at every server start; without language servers installed it
# finds nothing, and JupyterLab's language server client is off unless a student turns
# it on.
if os.environ.get("COURSEHUB_LANGUAGE_SERVERS") != "1":
    c.ServerApp.jpserver_extensions.update({"jupyter_lsp": False})

# Course servers report notebook events (opened, saved, cells run, kernels) to the
# coursehub service for the live class view.
if os.environ.get("COURSEHUB_EVENTS_URL") and os.environ.get("COURSEHUB_COURSE"):
    c.ServerApp.jpserver_extensions.update({"coursehub.student.events": True})
    c.ServerApp.kernel_websocket_connection_class = (
        "coursehub.student.events.kernel_watch.CourseKernelConnection"
    )

# Course servers place course files in their workspace when the service asks (links,
# reset, share where the service cannot act as the student: containers, pods).
# It answers nbgitpuller's git-pull too (with the course's stable link, not a clone), so
# nbgitpuller itself, if installed, stays off in course servers.
if os.environ.get("COURSEHUB_COURSE"):
    c.ServerApp.jpserver_extensions.update(
        {"coursehub.student.workspace": True, "nbgitpuller": False}
    )

# coursehub's JupyterLab plugin (Submit in the Course menu, notices from course staff,
# whose server a helper is in) and its server side. A prebuilt extension shipped with
# coursehub, looked up before the course environment's extensions.
if os.environ.get("COURSEHUB_COURSE"):
    from coursehub.student.lab import LABEXTENSIONS

    c.ServerApp.jpserver_extensions.update({"coursehub.student.lab": True})
    c.LabApp.extra_labextensions_path = [str(LABEXTENSIONS)]

# nbgrader is installed for the grading service; its notebook-side tools (formgrader,
# assignment list, exchange) are not for course servers: assignments go through the
# coursehub service. labconfig/page_config.json next to this file hides its lab
# extension the same way.
from coursehub.student.jupyter_config import NBGRADER_SERVER_EXTENSIONS  # noqa: E402

c.ServerApp.jpserver_extensions.update(dict.fromkeys(NBGRADER_SERVER_EXTENSIONS, False))
