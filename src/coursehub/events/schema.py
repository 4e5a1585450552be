"""What an event is: its types, fields and limits, checked before anything is stored.

The fields are PipalHub's (`type`, `user`, `filename`, `path`, optional `timestamp`)
plus `course` (the course server it came from) and a small `data` object whose keys
depend on the type.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from coursehub.core.notebook_tail import NotebookTail

EVENT_TYPES = {
    "notebook_opened": "a notebook was opened in JupyterLab",
    "notebook_saved": "a notebook was saved (data: sha256 of its content)",
    "cell_executed": "a cell ran (data: status ok/error, error name, cell index)",
    "kernel_started": "a kernel started",
    "kernel_died": "a kernel died or was restarted",
}
MAX_DATA_BYTES = 4096
MAX_FUTURE = timedelta(minutes=5)  # clocks drift; events from the future do not exist
MAX_PAST = timedelta(days=7)  # a server that was offline may send late, not ancient, events


class EventIn(BaseModel):
    """One event as a client posts it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: str
    user: str | None = Field(None, max_length=64)
    course: str | None = Field(None, max_length=40)
    filename: str = Field("", max_length=255)
    path: str = Field("", max_length=1000)
    timestamp: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    # notebook_saved only: the saved notebook's compact tail, for the live class view
    tail: NotebookTail | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v not in EVENT_TYPES:
            raise ValueError(f"unknown event type {v[:40]!r}; use one of {', '.join(EVENT_TYPES)}")
        return v

    @field_validator("timestamp")
    @classmethod
    def _sane_time(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return None
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        now = datetime.now(UTC)
        if v > now + MAX_FUTURE or v < now - MAX_PAST:
            raise ValueError("timestamp is not within the last 7 days; leave it out to use now")
        return v

    @field_validator("data")
    @classmethod
    def _small_data(cls, v: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(v, separators=(",", ":"))) > MAX_DATA_BYTES:
            raise ValueError(f"data is larger than {MAX_DATA_BYTES} bytes as JSON")
        return v

    @model_validator(mode="after")
    def _tail_with_saves_only(self) -> EventIn:
        if self.tail is not None and self.type != "notebook_saved":
            raise ValueError("only notebook_saved events carry a tail")
        return self


class EventOut(BaseModel):
    """One stored event as the API returns it."""

    id: int
    type: str
    user: str
    course: str | None
    filename: str
    path: str
    timestamp: datetime
    received_at: datetime
    data: dict[str, Any]
