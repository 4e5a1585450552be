"""The statistics page of a course (charts drawn in the browser from data embedded in
the page) and its CSV files. For the course's instructors, TAs and site admins."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, Response

from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import STAFF_ROLES, course_for
from coursehub.service.errors import ApiError
from coursehub.service.identity import HubUser
from coursehub.service.templating import render
from coursehub.stats.csv_export import TABLES, to_csv
from coursehub.stats.report import CourseStats, course_stats
from coursehub.stats.rollup import roll_up

router = APIRouter()

RANGES = (("7", "last 7 days"), ("30", "last 30 days"), ("all", "all days"))
MAX_DAYS = 3660
HEAT_LEVELS = 5


def parse_days(value: str) -> int | None:
    """The `days` query parameter: a number of days (today included) or "all"."""
    if value == "all":
        return None
    if not value.isdigit() or not 1 <= int(value) <= MAX_DAYS:
        raise ApiError(400, f"days must be a whole number from 1 to {MAX_DAYS}, or 'all'.")
    return int(value)


def _gather(request: Request, user: HubUser, course: str, days: int | None) -> tuple[Any, Any]:
    content, _role = course_for(request, user, course, STAFF_ROLES)
    db = context_of(request.app).database
    roll_up(db)  # events not counted yet (the monitor does it too, once a sample)
    # The admin looking is staff too, even without an account row saying so.
    also = [user.name] if user.role == "admin" else []
    return content, course_stats(db, course, days, notebooks=content.notebooks, also_staff=also)


def chart_data(st: CourseStats) -> dict[str, Any]:
    """The charts' series as plain JSON: times as Unix seconds, sizes in GiB."""

    def ts(value: date | datetime) -> int:
        if isinstance(value, datetime):
            return int(value.timestamp())
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())

    gib = 2**30
    per_student: dict[int, int] = {}
    for s in st.students:
        per_student[s.notebooks] = per_student.get(s.notebooks, 0) + 1
    most = max(per_student, default=0)
    return {
        "daily": {
            "t": [ts(r.day) for r in st.daily],
            "opens": [r.opens for r in st.daily],
            "executions": [r.executions for r in st.daily],
            "active": [r.active for r in st.daily],
            "new": [r.new for r in st.daily],
        },
        "notebooks": {
            "names": [n.path for n in st.notebooks],
            "students": [n.students for n in st.notebooks],
            "opens": [n.opens for n in st.notebooks],
        },
        "per_student": {
            "notebooks": list(range(most + 1)),
            "students": [per_student.get(i, 0) for i in range(most + 1)],
        },
        "servers": {
            "t": [ts(p.at) for p in st.servers],
            "servers": [p.servers for p in st.servers],
            "kernels": [p.kernels for p in st.servers],
            "busy": [p.busy_kernels for p in st.servers],
        },
        "machine": {
            "t": [ts(p.at) for p in st.machine],
            "load": [p.cpu_load for p in st.machine],
            "cpu": [p.cpu_percent for p in st.machine],
            "mem_used": [_scaled(p.memory_used, gib) for p in st.machine],
            "mem_total": [_scaled(p.memory_total, gib) for p in st.machine],
            "disk_free": [_scaled(p.disk_free, gib) for p in st.machine],
            "disk_total": [_scaled(p.disk_total, gib) for p in st.machine],
        },
    }


def _scaled(value: float | None, unit: float) -> float | None:
    return None if value is None else round(value / unit, 3)


def heat_level(n: int, most: int) -> int:
    """0 for none, then 1..HEAT_LEVELS by share of the busiest cell (CSS classes)."""
    if n <= 0 or most <= 0:
        return 0
    return max(1, -(-n * HEAT_LEVELS // most))


@router.get("/course/{course}/stats", response_class=HTMLResponse, include_in_schema=False)
async def stats_page(
    request: Request,
    course: str,
    user: Annotated[HubUser, Depends(page_user)],
    days: str = "30",
) -> HTMLResponse:
    window = parse_days(days)
    content, st = await asyncio.to_thread(_gather, request, user, course, window)
    base = f"{context_of(request.app).settings.service_prefix}course/{quote(course)}"
    most = st.heatmap.most
    return render(
        request,
        "staff/stats.html",
        user=user,
        course=content,
        stats=st,
        days=days,
        ranges=RANGES,
        tables=TABLES,
        course_url=base,
        stats_url=f"{base}/stats",
        chart_data=chart_data(st),
        heat=[[heat_level(n, most) for n in row] for row in st.heatmap.opens],
        last=st.daily[-1] if st.daily else None,
        peak_servers=max((p.servers for p in st.servers), default=0),
        peak_kernels=max((p.kernels for p in st.servers), default=0),
    )


@router.get("/course/{course}/stats/{table}.csv", include_in_schema=False)
async def stats_csv(
    request: Request,
    course: str,
    table: str,
    user: Annotated[HubUser, Depends(page_user)],
    days: str = "30",
) -> Response:
    if table not in TABLES:
        raise ApiError(
            404, f"There is no statistics table {table[:40]!r}: use {', '.join(TABLES)}."
        )
    window = parse_days(days)
    _content, st = await asyncio.to_thread(_gather, request, user, course, window)
    filename = f"{course}-{table}-{days}.csv"
    return Response(
        to_csv(st, table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
