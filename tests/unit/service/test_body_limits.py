"""Body limits hold while a body streams in (chunked, no Content-Length), answer 413 in
the one error shape whichever parser was reading, and nothing is read for a route that
refuses its caller first. The hub is faked (tests/helpers/fake_hub.py); the real
service against 200 MB streams is tests/security/test_bounded_input.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from coursehub.service.auth import api_user
from coursehub.service.body_limits import DEFAULT_LIMIT, body_limit
from coursehub.service.identity import HubUser
from tests.helpers.fake_hub import PREFIX, assert_error, bearer, build, client

MB = 1024 * 1024


def _chunks(total: int, read: list[int]) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        block = b"a" * 65536
        for _ in range(total // len(block)):
            read[0] += len(block)
            yield block

    return gen()


def _app():  # noqa: ANN202
    app, _ = build()

    @app.post(PREFIX + "api/_test/json")
    async def json_body(request: Request) -> dict:
        return {"n": len(await request.body())}

    @app.post(PREFIX + "api/_test/form")
    async def form_body(request: Request) -> dict:
        return {"n": len(await request.form())}

    @app.post(PREFIX + "api/_test/upload")
    @body_limit(4 * MB)
    async def upload(request: Request, user: Annotated[HubUser, Depends(api_user)]) -> dict:
        return {"n": len(await request.body())}

    @app.post(PREFIX + "_test/page-form")
    async def page_form(request: Request) -> dict:
        return {"n": len(await request.form())}

    return app


async def test_chunked_bodies_past_the_limit_get_413_whoever_reads_them() -> None:
    app = _app()
    async with client(app) as c:
        for path, ctype in (
            ("api/_test/json", "application/json"),
            ("api/_test/form", "application/x-www-form-urlencoded"),
        ):
            read = [0]
            got = await c.post(
                PREFIX + path, content=_chunks(8 * MB, read), headers={"Content-Type": ctype}
            )
            assert_error(got, 413, "too_large")
            assert read[0] <= DEFAULT_LIMIT + 2 * 65536, (path, read[0])
        # a page gets the page version of the same error
        page = await c.post(
            PREFIX + "_test/page-form",
            content=_chunks(8 * MB, [0]),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert page.status_code == 413 and "text/html" in page.headers["content-type"]
        # small bodies pass; a declared length past the limit is refused unread
        assert (await c.post(PREFIX + "api/_test/json", content=b"{}")).json() == {"n": 2}
        big = await c.post(
            PREFIX + "api/_test/json", content=b"x" * (DEFAULT_LIMIT + 1), headers={}
        )
        assert_error(big, 413, "too_large")


async def test_an_upload_route_has_its_own_limit_and_reads_nothing_for_strangers() -> None:
    app = _app()
    async with client(app) as c:
        read = [0]
        stranger = await c.post(PREFIX + "api/_test/upload", content=_chunks(8 * MB, read))
        assert_error(stranger, 401, "not_authenticated")
        assert read[0] <= 65536  # at most what the transport sends before the answer
        fits = await c.post(
            PREFIX + "api/_test/upload", content=b"a" * (3 * MB), headers=bearer("tok-student")
        )
        assert fits.json() == {"n": 3 * MB}
        read = [0]
        too_big = await c.post(
            PREFIX + "api/_test/upload",
            content=_chunks(8 * MB, read),
            headers=bearer("tok-student"),
        )
        assert_error(too_big, 413, "too_large")
        assert "4 MB" in too_big.json()["error"]["message"]
