"""Tokens the service shows a student's server: each opens that one server, nothing else.

A course server runs as its student, who reads every header it receives (their own
server config, their own process, or a listener of theirs on the server's port). So
the service's own hub token — it lists users, creates tokens and stops servers —
never goes to a server. To ask a server for its kernels or to stop one, the service
has the hub issue a token *of the server's owner* whose only scope is
``access:servers!server=<owner>/<server>``: what the owner already holds. The token
shows in the owner's token list with a note that says what it is for.

One token per server is kept in memory and reused until `RENEW_BEFORE` seconds before
it expires, so a class of 300 costs about 300 tokens an hour; the hub purges expired
ones. A restarted service simply asks for new ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx

log = logging.getLogger("coursehub.monitor")

LIFETIME = 3600  # seconds a token is valid
RENEW_BEFORE = 600  # a token this close to its end is not handed out any more
NOTE = "coursehub: the staff servers page and statistics ask this server for its kernels"


def server_scope(username: str, server: str) -> str:
    """The one scope of a server's token: access to `username`'s server `server`."""
    return f"access:servers!server={username}/{server}"


@dataclass
class ServerTokens:
    """Issues and reuses one short-lived, single-server token per (owner, server).

    `service_token` is the service's hub token, sent to the hub API only; it needs the
    `tokens` scope on the servers' owners.
    """

    api_url: str
    service_token: str = field(repr=False)
    clock: Callable[[], float] = time.monotonic
    _tokens: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict, repr=False)

    async def token(self, client: httpx.AsyncClient, username: str, server: str) -> str | None:
        """A token that opens `username`'s server `server` only; None if the hub refused
        (the reason is logged)."""
        now = self.clock()
        kept = self._tokens.get((username, server))
        if kept is not None and kept[1] > now:
            return kept[0]
        try:
            response = await client.post(
                f"{self.api_url}/users/{quote(username, safe='')}/tokens",
                headers={"Authorization": f"token {self.service_token}"},
                json={
                    "scopes": [server_scope(username, server)],
                    "expires_in": LIFETIME,
                    "note": NOTE,
                },
            )
        except httpx.HTTPError as exc:
            log.warning("no token for the server %s/%s: %s", username, server, exc)
            return None
        if response.status_code != 201:
            log.warning(
                "the hub refused a token for the server %s/%s: HTTP %s %s",
                username,
                server,
                response.status_code,
                response.text[:200],
            )
            return None
        token = response.json().get("token")
        if not isinstance(token, str) or not token:
            log.warning("the hub answered no token for the server %s/%s", username, server)
            return None
        self._forget_expired(now)
        self._tokens[(username, server)] = (token, now + LIFETIME - RENEW_BEFORE)
        return token

    def forget(self, username: str, server: str) -> None:
        """Drop the kept token of a server that refused it (its owner revoked it, say)."""
        self._tokens.pop((username, server), None)

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, (_, until) in self._tokens.items() if until <= now]:
            del self._tokens[key]
