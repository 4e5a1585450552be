"""Shared notebooks: a static HTML snapshot of a student's notebook behind an
unguessable token, the same token every time the same notebook is shared again.

Snapshots are files in ``<data_dir>/shares/`` (0700, owned by the service); the
database maps tokens to (course, student, notebook).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from pathlib import Path

import nbformat
from sqlalchemy import select
from sqlalchemy.orm import Session

from coursehub.core.errors import CoursehubError
from coursehub.db import models
from coursehub.db.session import Database

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
# Served with every snapshot: no script runs, nothing is fetched, and the page is its
# own opaque origin, so a hostile output can neither run nor reach the hub's cookies.
SNAPSHOT_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class ShareError(CoursehubError):
    """The notebook cannot be shared (the message says why)."""


def notebook_html(data: bytes, path: str) -> str:
    """Static HTML of a notebook file (.ipynb, or Jupytext Markdown/percent script)."""
    from nbconvert import HTMLExporter

    try:
        text = data.decode("utf-8")
        if path.lower().endswith(".ipynb"):
            nb = nbformat.reads(text, as_version=4)
        else:
            import jupytext

            nb = jupytext.reads(text, fmt=Path(path).suffix.lstrip(".").lower())
    except (UnicodeDecodeError, json.JSONDecodeError, nbformat.reader.NotJSONError) as exc:
        raise ShareError(f"this notebook cannot be read ({type(exc).__name__})") from None
    except Exception as exc:  # nbformat and jupytext raise many kinds on malformed input
        raise ShareError(f"this notebook cannot be read: {str(exc)[:200]}") from None
    exporter = HTMLExporter(template_name="lab")
    # No scripts would run under SNAPSHOT_CSP anyway; leave out the ones that would load.
    exporter.exclude_anchor_links = True
    try:
        body, _resources = exporter.from_notebook_node(nb)
    except Exception as exc:
        raise ShareError(f"this notebook cannot be turned into a page: {str(exc)[:200]}") from None
    return body


def _share_row(s: Session, course: str, username: str, path: str) -> models.Share | None:
    query = select(models.Share).where(
        models.Share.course == course,
        models.Share.username == username,
        models.Share.path == path,
    )
    return s.scalars(query).one_or_none()


class ShareStore:
    def __init__(self, db: Database, folder: Path):
        self.db = db
        self.folder = Path(folder)

    def shares_of(self, course: str, username: str) -> dict[str, str]:
        """{notebook path: token} of one student's shared notebooks in a course."""
        query = select(models.Share).where(
            models.Share.course == course, models.Share.username == username
        )
        with self.db.session() as s:
            return {row.path: row.token for row in s.scalars(query)}

    def publish(self, course: str, username: str, path: str, html: str) -> str:
        """Store (or replace) the snapshot; the token stays the same across re-shares."""
        with self.db.session() as s:
            row = _share_row(s, course, username, path)
            if row is None:
                row = models.Share(
                    token=secrets.token_urlsafe(24), course=course, username=username, path=path
                )
                s.add(row)
            else:
                row.updated_at = models.utcnow()
            token = row.token
            self._write(token, html)  # inside the transaction: no row without its file
        return token

    def unpublish(self, course: str, username: str, path: str) -> bool:
        with self.db.session() as s:
            row = _share_row(s, course, username, path)
            if row is None:
                return False
            token = row.token
            s.delete(row)
        self._file(token).unlink(missing_ok=True)
        return True

    def snapshot(self, token: str) -> str | None:
        if not TOKEN_RE.match(token):
            return None
        with self.db.session() as s:
            if s.get(models.Share, token) is None:
                return None
        try:
            return self._file(token).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def _file(self, token: str) -> Path:
        return self.folder / f"{token}.html"

    def _write(self, token: str, html: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".share-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(html)
            os.replace(tmp, self._file(token))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
