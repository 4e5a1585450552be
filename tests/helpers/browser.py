"""Debian's Chromium driven by Playwright, for tests that look at pages as users do."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("COURSEHUB_SCREENSHOTS", "/tmp/coursehub-screenshots"))


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, closed afterwards."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()
