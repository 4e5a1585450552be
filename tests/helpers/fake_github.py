"""GitHub's OAuth and REST endpoints on loopback, for a real hub's GitHub sign-in.

GitHub itself cannot be reached from the test machine, so a hub under test is pointed
here (`github_url`, an extra jupyterhub_config.d file). The pages answer as GitHub does
for an app with the `read:org` scope: authorize (approved at once, for whoever the test
says is signing in next), the token exchange, `/user`, `/user/teams` and the
organisation membership check. Everything else is 404.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

API = "/api/v3"  # what oauthenticator uses for a github_url other than github.com


@dataclass
class GitHubUser:
    login: str
    id: int
    orgs: tuple[str, ...] = ("school",)
    teams: tuple[tuple[str, str], ...] = ()  # (organisation, team slug)
    name: str = ""


@dataclass
class FakeGitHub:
    """`next_user` is who approves the next authorize request."""

    next_user: GitHubUser | None = None
    codes: dict[str, GitHubUser] = field(default_factory=dict)
    tokens: dict[str, GitHubUser] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                fake._get(self)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                fake._post(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the endpoints -------------------------------------------------------------

    def _get(self, h: BaseHTTPRequestHandler) -> None:
        url = urlparse(h.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/login/oauth/authorize":
            with self.lock:
                user = self.next_user
                code = secrets.token_hex(8)
                if user is not None:
                    self.codes[code] = user
            target = (
                query["redirect_uri"] + "?" + urlencode({"code": code, "state": query["state"]})
            )
            h.send_response(302)
            h.send_header("Location", target)
            h.end_headers()
            return
        user = self._bearer(h)
        if user is None:
            _send(h, 401, {"message": "Bad credentials"})
        elif url.path == f"{API}/user":
            _send(h, 200, {"login": user.login, "id": user.id, "name": user.name, "email": None})
        elif url.path == f"{API}/user/teams":
            teams = [{"organization": {"login": org}, "slug": slug} for org, slug in user.teams]
            _send(h, 200, teams)
        elif url.path.startswith(f"{API}/orgs/"):
            # /orgs/{org}/members/{username}: 204 when a member
            parts = url.path[len(API) :].split("/")
            member = (
                len(parts) == 5
                and parts[3] == "members"
                and parts[2] in user.orgs
                and parts[4] == user.login
            )
            _send(h, 204 if member else 404, None)
        else:
            _send(h, 404, {"message": "Not Found"})

    def _post(self, h: BaseHTTPRequestHandler, body: str) -> None:
        if urlparse(h.path).path != "/login/oauth/access_token":
            _send(h, 404, {"message": "Not Found"})
            return
        fields = {k: v[0] for k, v in parse_qs(body).items()}
        with self.lock:
            user = self.codes.pop(fields.get("code", ""), None)
            token = secrets.token_hex(16)
            if user is not None:
                self.tokens[token] = user
        if user is None:
            _send(h, 200, {"error": "bad_verification_code"})
            return
        _send(h, 200, {"access_token": token, "token_type": "bearer", "scope": "read:org"})

    def _bearer(self, h: BaseHTTPRequestHandler) -> GitHubUser | None:
        value = h.headers.get("Authorization") or ""
        token = value.split(" ", 1)[1] if " " in value else ""
        with self.lock:
            return self.tokens.get(token)


def _send(h: BaseHTTPRequestHandler, status: int, data: Any) -> None:
    h.send_response(status)
    if data is None:
        h.end_headers()
        return
    body = json.dumps(data).encode()
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)
