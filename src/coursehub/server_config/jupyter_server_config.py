# Moved to coursehub/student/jupyter_config/; servers started by earlier releases still
# name this folder in JUPYTER_CONFIG_PATH, so it loads the new file.
from coursehub.student.jupyter_config import CONFIG_DIR

load_subconfig(str(CONFIG_DIR / "jupyter_server_config.py"))  # type: ignore[name-defined]  # noqa: F821
