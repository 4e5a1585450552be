"""A notebook's compact tail: where the student is, in a few kilobytes.

The student server computes it from the notebook it just saved and sends it with the
`notebook_saved` event; the service checks it against `NotebookTail` and keeps the
latest one per (course, student, notebook) for the live class view.

The tail ends at the most recently run code cell (where the student is working), or at
the end of the notebook when nothing ran yet. Sources and outputs are cut short and
every rich output is reduced to a text label: a tail never carries HTML or script.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TAIL_CELLS = 3
MAX_SOURCE_LINES = 12
MAX_SOURCE_CHARS = 1200
MAX_OUTPUTS = 3
MAX_OUTPUT_CHARS = 400
FINISH_TAG = "finish"  # a code cell with this tag that ran without error marks "finished"


class TailOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["text", "error", "image", "html", "other"]
    text: str = Field("", max_length=MAX_OUTPUT_CHARS + 40)


class TailCell(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    type: Literal["code", "markdown", "raw"]
    source: str = Field("", max_length=MAX_SOURCE_CHARS + 40)
    count: int | None = None
    outputs: list[TailOutput] = Field(default_factory=list, max_length=MAX_OUTPUTS + 1)


class TailSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cells: int = Field(0, ge=0)  # code cells in the notebook
    executed: int = Field(0, ge=0)  # code cells with an execution count
    errors: int = Field(0, ge=0)  # code cells whose outputs hold an error
    last_error: str | None = Field(None, max_length=200)  # error name in the last run cell
    finished: bool = False  # every code cell ran without error, or the finish cell did


class NotebookTail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cells: list[TailCell] = Field(default_factory=list, max_length=TAIL_CELLS)
    summary: TailSummary = Field(default_factory=TailSummary)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _clip_lines(text: str, max_lines: int, max_chars: int) -> str:
    lines = text.splitlines()
    if len(lines) > max_lines:
        lines = ["…"] + lines[-max_lines:]
    out = "\n".join(lines)
    return out if len(out) <= max_chars else "…" + out[-max_chars:]


def _output(out: dict[str, Any]) -> dict[str, str]:
    kind = out.get("output_type")
    if kind == "stream":
        return {"kind": "text", "text": _clip_lines(_text(out.get("text")), 6, MAX_OUTPUT_CHARS)}
    if kind == "error":
        name = str(out.get("ename", "Error"))[:100]
        value = str(out.get("evalue", ""))[: MAX_OUTPUT_CHARS - len(name) - 2]
        return {"kind": "error", "text": f"{name}: {value}"}
    data = out.get("data") or {}
    if not isinstance(data, dict):
        return {"kind": "other", "text": ""}
    if any(str(m).startswith("image/") for m in data):
        return {"kind": "image", "text": "[image]"}
    plain = _text(data.get("text/plain"))
    if "text/html" in data and (not plain or plain.endswith(" object>")):
        return {"kind": "html", "text": "[HTML output]"}  # the repr would say nothing
    if "text/plain" in data:
        return {"kind": "text", "text": _clip_lines(_text(data["text/plain"]), 6, MAX_OUTPUT_CHARS)}
    return {"kind": "other", "text": "[" + ", ".join(sorted(map(str, data)))[:60] + "]"}


def _has_error(cell: dict[str, Any]) -> str | None:
    for out in cell.get("outputs") or []:
        if isinstance(out, dict) and out.get("output_type") == "error":
            return str(out.get("ename", "Error"))[:200]
    return None


def tail_of(nb: dict[str, Any], size: int = TAIL_CELLS) -> dict[str, Any]:
    """The tail of notebook JSON `nb` (as parsed, any nbformat 4 minor), as plain data
    that `NotebookTail` accepts."""
    raw_cells = nb.get("cells") if isinstance(nb, dict) else None
    cells = [c for c in raw_cells or [] if isinstance(c, dict)]
    code = [(i, c) for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    executed = [(i, c) for i, c in code if isinstance(c.get("execution_count"), int)]
    errors = [(i, c) for i, c in code if _has_error(c)]
    last_run = max(executed, key=lambda ic: ic[1]["execution_count"], default=None)
    finish_cells = [
        c for _, c in code if FINISH_TAG in ((c.get("metadata") or {}).get("tags") or [])
    ]
    finished = bool(code) and len(executed) == len(code) and not errors
    if any(isinstance(c.get("execution_count"), int) and not _has_error(c) for c in finish_cells):
        finished = True
    end = last_run[0] + 1 if last_run else len(cells)
    picked = []
    for index in range(max(0, end - size), end):
        cell = cells[index]
        kind = cell.get("cell_type")
        kind = kind if kind in ("code", "markdown", "raw") else "raw"
        count = cell.get("execution_count") if kind == "code" else None
        outputs = [o for o in cell.get("outputs") or [] if isinstance(o, dict)]
        picked.append(
            {
                "index": index,
                "type": kind,
                "source": _clip_lines(
                    _text(cell.get("source")), MAX_SOURCE_LINES, MAX_SOURCE_CHARS
                ),
                "count": count if isinstance(count, int) else None,
                "outputs": [_output(o) for o in outputs[-MAX_OUTPUTS:]],
            }
        )
    return {
        "cells": picked,
        "summary": {
            "cells": len(code),
            "executed": len(executed),
            "errors": len(errors),
            "last_error": _has_error(last_run[1]) if last_run else None,
            "finished": finished,
        },
    }
