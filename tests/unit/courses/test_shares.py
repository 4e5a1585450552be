"""Shared snapshots: stable unguessable tokens, and hostile notebooks that cannot hurt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coursehub.courses.shares import SNAPSHOT_CSP, ShareError, ShareStore, notebook_html
from coursehub.db.session import Database


def _nb(*cells: dict) -> bytes:
    return json.dumps(
        {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    ).encode()


@pytest.fixture
def shares(stats_db: Database, tmp_path: Path) -> ShareStore:
    return ShareStore(stats_db, tmp_path / "shares")


def test_same_notebook_keeps_its_token_and_unsharing_removes_it(shares: ShareStore) -> None:
    token = shares.publish("stats", "alice", "a.ipynb", "<p>one</p>")
    assert len(token) == 32
    assert shares.publish("stats", "alice", "a.ipynb", "<p>two</p>") == token
    assert shares.snapshot(token) == "<p>two</p>"
    other = shares.publish("stats", "bob", "a.ipynb", "<p>bob</p>")
    assert other != token
    assert shares.shares_of("stats", "alice") == {"a.ipynb": token}
    assert (shares.folder.stat().st_mode & 0o777) == 0o700
    assert shares.unpublish("stats", "alice", "a.ipynb")
    assert shares.snapshot(token) is None
    assert not shares.unpublish("stats", "alice", "a.ipynb")
    # tokens that are not tokens never reach the file system
    assert shares.snapshot("../../etc/passwd") is None
    assert shares.snapshot(other) == "<p>bob</p>"


def test_html_keeps_outputs_but_the_page_runs_no_script() -> None:
    hostile = {
        "cell_type": "code",
        "id": "x",
        "metadata": {},
        "execution_count": 1,
        "source": "print(1)",
        "outputs": [
            {
                "output_type": "display_data",
                "metadata": {},
                "data": {"text/html": "<script>steal()</script><b>bold output</b>"},
            }
        ],
    }
    html = notebook_html(_nb(hostile), "work.ipynb")
    assert "bold output" in html
    # Scripts may be in the page; the policy it is served with stops them all.
    assert SNAPSHOT_CSP.startswith("sandbox;") and "script-src" not in SNAPSHOT_CSP
    assert "default-src 'none'" in SNAPSHOT_CSP


def test_text_notebooks_and_broken_files(tmp_path: Path) -> None:
    md = b"---\njupytext:\n  formats: md:myst\n---\n\n# Title here\n\n```{code-cell}\n1+1\n```\n"
    assert "Title here" in notebook_html(md, "lesson.md")
    for bad in (b"{not json", b"\xff\xfe", b'{"cells": 3}'):
        with pytest.raises(ShareError, match="cannot"):
            notebook_html(bad, "broken.ipynb")
