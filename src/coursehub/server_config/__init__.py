"""Jupyter configuration every student server loads (JUPYTER_CONFIG_PATH points here)."""

from pathlib import Path

CONFIG_DIR = Path(__file__).parent
