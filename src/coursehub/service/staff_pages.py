"""The staff page of a course: pull now, build the environment (output streamed as
it comes), the roster, and how many students opened each notebook.

Instructors (and site admins) may pull and build; TAs see the page read-only.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from markupsafe import escape
from starlette.responses import HTMLResponse, RedirectResponse, StreamingResponse

from ..courses.build import build_course, environment_state
from ..errors import CoursehubError
from .auth import page_user
from .course_access import STAFF_ROLES, course_for, layout_of, progress_for, store_for
from .errors import ApiError
from .forms import form_user
from .identity import HubUser
from .templating import render

log = logging.getLogger("coursehub.service")
router = APIRouter()

OUTPUT_MARK = "<!--output-->"
USERNAME_SPLIT = re.compile(r"[\s,;]+")
MAX_ENROL = 2000
MAX_STREAM_LINES = 20_000  # a runaway build cannot make the page unbounded


def _staff_only(role: str, *, manage: bool = False) -> None:
    if role not in STAFF_ROLES:
        raise ApiError(403, "Only the course's instructors and teaching assistants see this page.")
    if manage and role != "instructor":
        raise ApiError(403, "Only the course's instructors can pull or build it.")


def _staff_url(request: Request, course: str) -> str:
    return f"{request.app.state.settings.service_prefix}course/{quote(course)}/staff"


@router.get("/course/{course}/staff", response_class=HTMLResponse, include_in_schema=False)
async def staff_page(
    request: Request, course: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    content, role = await asyncio.to_thread(course_for, request, user, course)
    _staff_only(role)

    def gather() -> dict:
        store = store_for(request.app)
        members = store.members(course)
        students = [m.username for m in members if m.role == "student"]
        progress = progress_for(request.app)
        return {
            "info": store.get(course),
            "members": members,
            "students": students,
            "opened": progress.open_counts(course, students),
            "activity": progress.activity(course),
            "environment": environment_state(layout_of(request), course),
        }

    data = await asyncio.to_thread(gather)
    return render(
        request,
        "staff.html",
        user=user,
        course=content,
        role=role,
        can_manage=role == "instructor",
        staff_url=_staff_url(request, course),
        course_url=f"{request.app.state.settings.service_prefix}course/{quote(course)}",
        enrolled=request.query_params.get("enrolled", ""),
        quote=quote,
        **data,
    )


@router.post("/course/{course}/staff/enrol", include_in_schema=False)
async def enrol(
    request: Request, course: str, user: Annotated[HubUser, Depends(form_user)]
) -> RedirectResponse:
    _content, role = await asyncio.to_thread(course_for, request, user, course)
    _staff_only(role, manage=True)
    form = await request.form()
    names = [n for n in USERNAME_SPLIT.split(str(form.get("usernames") or "")) if n]
    new_role = str(form.get("role") or "student")
    if not names:
        raise ApiError(400, "Write at least one username to enrol.")
    if len(names) > MAX_ENROL:
        raise ApiError(400, f"Enrol at most {MAX_ENROL} people at once, or use a roster file.")
    try:
        done = await asyncio.to_thread(store_for(request.app).enrol_many, course, names, new_role)
    except CoursehubError as exc:
        raise ApiError(400, f"Nobody was enrolled: {exc}.") from None
    log.info("%s enrolled %d in %s as %s", user.name, len(done), course, new_role)
    return RedirectResponse(f"{_staff_url(request, course)}?enrolled={len(done)}", 303)


@router.post("/course/{course}/staff/unenrol/{username}", include_in_schema=False)
async def unenrol(
    request: Request, course: str, username: str, user: Annotated[HubUser, Depends(form_user)]
) -> RedirectResponse:
    _content, role = await asyncio.to_thread(course_for, request, user, course)
    _staff_only(role, manage=True)
    if username == user.name:
        raise ApiError(400, "You cannot take yourself out of the course here.")
    try:
        await asyncio.to_thread(store_for(request.app).unenrol, course, username)
    except CoursehubError as exc:
        raise ApiError(400, f"{exc}.") from None
    log.info("%s unenrolled %s from %s", user.name, username, course)
    return RedirectResponse(_staff_url(request, course), 303)


@router.post("/course/{course}/staff/pull", include_in_schema=False)
async def pull_now(
    request: Request, course: str, user: Annotated[HubUser, Depends(form_user)]
) -> StreamingResponse:
    _content, role = await asyncio.to_thread(course_for, request, user, course)
    _staff_only(role, manage=True)
    store = store_for(request.app)

    def work(out: Callable[[str], None]) -> tuple[bool, str]:
        result = store.pull(course, log=out)
        if not result.ok:
            return False, "The pull failed; the course keeps its previous version."
        if result.changed:
            return True, f"Updated to {str(result.new_commit)[:12]}."
        return True, "Already up to date."

    log.info("%s pulls %s from the staff page", user.name, course)
    return _stream(request, course, user, f"Pulling {course}", work)


@router.post("/course/{course}/staff/build", include_in_schema=False)
async def build_now(
    request: Request, course: str, user: Annotated[HubUser, Depends(form_user)]
) -> StreamingResponse:
    _content, role = await asyncio.to_thread(course_for, request, user, course)
    _staff_only(role, manage=True)
    force = (await request.form()).get("force") == "1"
    layout = layout_of(request)

    def work(out: Callable[[str], None]) -> tuple[bool, str]:
        result = build_course(layout, course, log=lambda line: out(line + "\n"), force=force)
        if not result.built:
            return True, "The environment was already up to date; nothing was rebuilt."
        return True, f"Built in {result.seconds:.0f} s. Servers started from now on use it."

    log.info("%s builds %s from the staff page (force=%s)", user.name, course, force)
    return _stream(request, course, user, f"Building the environment of {course}", work)


def _stream(
    request: Request,
    course: str,
    user: HubUser,
    title: str,
    work: Callable[[Callable[[str], None]], tuple[bool, str]],
) -> StreamingResponse:
    """Run `work` in a thread and send its output to the browser as it comes.

    The page is plain HTML sent in pieces, so it needs no script. The work goes on
    to the end even if the browser leaves (a half-done pull or build helps nobody).
    """
    page = render(
        request, "operation.html", user=user, title=title, back_url=_staff_url(request, course)
    ).body.decode()
    head, _, tail = page.partition(OUTPUT_MARK)
    tail = tail.removeprefix("</pre>")  # closed below, before the outcome
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def out(text: str) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, text)

    def run() -> tuple[bool, str]:
        try:
            return work(out)
        except CoursehubError as exc:
            return False, str(exc)
        except Exception:
            log.exception("%s on %s failed", title, course)
            return False, "Something went wrong on our side; it has been logged."
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    async def body() -> AsyncIterator[str]:
        job = loop.run_in_executor(None, run)
        yield head
        lines = 0
        while (text := await queue.get()) is not None:
            lines += text.count("\n")
            if lines <= MAX_STREAM_LINES:
                yield str(escape(text))
        ok, message = await job
        status = "ok" if ok else "failed"
        yield f'</pre><p class="outcome {status}" id="outcome">{escape(message)}</p>'
        yield tail

    return StreamingResponse(
        body(),
        media_type="text/html; charset=utf-8",
        headers={"X-Accel-Buffering": "no"},
    )
