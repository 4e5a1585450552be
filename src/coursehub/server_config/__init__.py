"""Moved to coursehub.student.jupyter_config; this folder stays because servers started
by earlier releases name it in JUPYTER_CONFIG_PATH."""

from coursehub.student.jupyter_config import (  # noqa: F401
    CONFIG_DIR,
    NBGRADER_SERVER_EXTENSIONS,
    write_lab_settings,
)
