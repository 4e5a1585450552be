"""A notebook link's word about kernels, before any server starts: a notebook asking for
a language the course has no kernel for (an R or Julia notebook in a Python course)
would open in JupyterLab on a kernel that cannot run it, or on none. The page names the
kernel asked for and the course's kernels, and offers to open the notebook anyway."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from coursehub.config.layout import DataLayout
from coursehub.courses.course_kernel import offered_kernels, unmet_kernel
from coursehub.service.context import context_of
from coursehub.service.templating import render

ANYWAY = "anyway"  # ?kernel=anyway: the student has read the notice


async def kernel_notice(
    request: Request, layout: DataLayout, course: str, notebook: Path, path: str
) -> Response | None:
    """The notice page for the course notebook at `notebook` (shown at `path`), or None
    when one of the course's kernels runs it."""
    if request.query_params.get("kernel") == ANYWAY:
        return None
    asked = await asyncio.to_thread(unmet_kernel, layout, course, notebook)
    if asked is None:
        return None
    offered = await asyncio.to_thread(offered_kernels, layout, course)
    prefix = context_of(request.app).settings.service_prefix
    return render(
        request,
        "courses/kernel_notice.html",
        course=course,
        path=path,
        asked=asked,
        offered=offered,
        anyway=f"{quote(request.url.path)}?kernel={ANYWAY}",
        course_url=f"{prefix}course/{quote(course)}",
    )
