"""Students' name resolution: every ``*.localhost`` host is this machine, as in Chromium.

With per-user subdomains the hub is at ``hub.localhost:<port>`` and each server at
``<user>.hub.localhost:<port>``, the shape of a production site (``hub.example.edu``,
``<user>.hub.example.edu``): the hub's cookies for ``Domain=hub.localhost`` reach the
servers as a browser sends them (a bare ``localhost`` has no dot, and Python's cookie
rules, unlike browsers', drop such domain cookies). Python does not resolve those names
(glibc has only ``localhost``), so the students' HTTP client sends such requests to
127.0.0.1 with the original Host header, and the websocket client connects there;
cookies stay keyed on the names the student saw.
"""

from __future__ import annotations

import httpx


def is_local(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


class LoopbackTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if is_local(request.url.host):
            request = httpx.Request(
                request.method,
                request.url.copy_with(host="127.0.0.1"),
                headers=request.headers,  # keeps Host: <user>.localhost:<port>
                stream=request.stream,
                extensions=request.extensions,
            )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
