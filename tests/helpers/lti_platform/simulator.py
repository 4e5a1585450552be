"""PlatformSimulator: an LMS on 127.0.0.1 that launches the tool over LTI 1.3 and
serves AGS 2.0, NRPS 2.0 and deep-linking returns, with knobs for hostile tests."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

from tests.helpers.lti_platform.handler import PlatformHandler
from tests.helpers.lti_platform.tokens import (
    AGS_CLAIM,
    DL_SETTINGS,
    LTI,
    NRPS_CLAIM,
    SCOPE_LINEITEM,
    SCOPE_RESULT_READ,
    SCOPE_SCORE,
    encode,
    new_rsa_key,
    public_jwk,
)

RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"
COURSE_OFFERING = "http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"

# fn(claims, headers) -> (claims, key name); may edit headers in place ("alg", "kid", ...)
Tamper = Callable[[dict[str, Any], dict[str, Any]], tuple[dict[str, Any], str]]


@dataclass
class PendingLaunch:
    user_id: str
    message_hint: str
    options: dict[str, Any]


@dataclass
class Fault:
    prefix: str
    remaining: int
    status: int
    retry_after: int | None


@dataclass
class AccessToken:
    scopes: frozenset[str]
    expires_at: float


class PlatformSimulator:
    """Bound to a free port at construction (so `url` is known before the tool is
    configured); serves from `start()` or `with` until `stop()`."""

    def __init__(
        self,
        client_id: str = "coursehub-tool",
        deployment_id: str = "1",
        *,
        host: str = "127.0.0.1",
    ) -> None:
        self.lock = threading.RLock()
        self._server = ThreadingHTTPServer((host, 0), PlatformHandler)
        self._server.daemon_threads = True
        self._server.simulator = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self.port: int = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self.issuer = self.url
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.auth_login_url = self.url + "/auth"
        self.auth_token_url = self.url + "/token"
        self.key_set_url = self.url + "/jwks"
        self.tool_login_url = ""
        self.tool_launch_url = ""
        self.tool_jwks_url = ""
        self.tool_jwks: dict[str, Any] | None = None  # used instead of fetching tool_jwks_url
        self.context: dict[str, Any] = {
            "id": "ctx-101",
            "label": "PHYS101",
            "title": "Physics 101",
            "type": [COURSE_OFFERING],
        }
        self.members: dict[str, dict[str, Any]] = {}
        self.page_size = 100  # NRPS and line item containers
        self.token_lifetime = 3600
        # what tests assert on
        self.auth_requests: list[dict[str, str]] = []
        self.tokens_issued = 0
        self.jwks_requests = 0
        self.line_items: dict[str, dict[str, Any]] = {}
        self.scores: dict[tuple[str, str], dict[str, Any]] = {}
        self.score_posts: list[dict[str, Any]] = []
        self.deep_link_responses: list[dict[str, Any]] = []
        self.request_log: list[tuple[str, str, int]] = []
        self.last_login_hint = ""
        # keys: the published one(s) by kid, and a rogue key that is never published
        self._keys = {"platform": new_rsa_key(), "rogue": new_rsa_key()}
        self.kid = "sim-" + secrets.token_hex(6)
        self._published: dict[str, str] = {self.kid: "platform"}
        self._pending: dict[str, PendingLaunch] = {}
        self._tampers: list[Tamper] = []
        self._faults: list[Fault] = []
        self._access_tokens: dict[str, AccessToken] = {}
        self._seen_jtis: set[str] = set()
        self._dl_data: set[str] = set()
        self._next_item = 1

    # lifecycle

    def start(self) -> PlatformSimulator:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # so stop() returns promptly
                name="lti-platform",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> PlatformSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # data

    def add_member(
        self,
        user_id: str,
        *,
        name: str,
        given_name: str,
        family_name: str,
        email: str,
        roles: list[str],
        status: str = "Active",
    ) -> dict[str, Any]:
        member = {
            "status": status,
            "user_id": user_id,
            "roles": list(roles),
            "name": name,
            "given_name": given_name,
            "family_name": family_name,
            "email": email,
        }
        with self.lock:
            self.members[user_id] = member
        return member

    def jwks(self) -> dict[str, Any]:
        with self.lock:
            return {
                "keys": [public_jwk(self._keys[name], kid) for kid, name in self._published.items()]
            }

    def rotate_key(self, *, keep_old: bool = True) -> str:
        """A new platform key and kid; the old key stays published (as key "previous")
        unless keep_old is False. Returns the new kid."""
        with self.lock:
            self._keys["previous"] = self._keys["platform"]
            self._keys["platform"] = new_rsa_key()
            old, self.kid = self.kid, "sim-" + secrets.token_hex(6)
            self._published = {old: "previous"} if keep_old else {}
            self._published[self.kid] = "platform"
            return self.kid

    # tokens

    def launch_claims(
        self,
        user_id: str,
        *,
        message_type: str = RESOURCE_LINK,
        roles: list[str] | None = None,
        custom: dict[str, str] | None = None,
        resource_link_id: str = "rl-1",
        nonce: str | None = None,
        deep_linking: bool = False,
        ags: bool = True,
        nrps: bool = True,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A complete, valid id_token claim set for member `user_id`."""
        with self.lock:
            member = dict(self.members[user_id])
            ctx = dict(context if context is not None else self.context)
        if deep_linking:
            message_type = DEEP_LINKING
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user_id,
            "aud": self.client_id,
            "azp": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce if nonce is not None else secrets.token_urlsafe(16),
            "name": member["name"],
            "given_name": member["given_name"],
            "family_name": member["family_name"],
            "email": member["email"],
            LTI + "message_type": message_type,
            LTI + "version": "1.3.0",
            LTI + "deployment_id": self.deployment_id,
            LTI + "target_link_uri": self.tool_launch_url,
            LTI + "roles": list(roles if roles is not None else member["roles"]),
            LTI + "context": ctx,
            LTI + "custom": dict(custom or {}),
            LTI + "launch_presentation": {
                "document_target": "iframe",
                "return_url": self.url + "/return",
                "locale": "en",
            },
            LTI + "tool_platform": {"guid": "lti-platform-simulator", "name": "Simulated LMS"},
        }
        if message_type != DEEP_LINKING:
            claims[LTI + "resource_link"] = {
                "id": resource_link_id,
                "title": f"Activity {resource_link_id}",
            }
        if ags:
            endpoint: dict[str, Any] = {
                "scope": [SCOPE_LINEITEM, SCOPE_RESULT_READ, SCOPE_SCORE],
                "lineitems": f"{self.url}/ags/{ctx['id']}/lineitems",
            }
            with self.lock:
                linked = [
                    i
                    for i, item in self.line_items.items()
                    if item.get("resourceLinkId") == resource_link_id
                ]
            if linked:  # like Moodle: the link's own grade column
                endpoint["lineitem"] = linked[0]
            claims[AGS_CLAIM] = endpoint
        if nrps:
            claims[NRPS_CLAIM] = {
                "context_memberships_url": f"{self.url}/nrps/{ctx['id']}/memberships",
                "service_versions": ["2.0"],
            }
        if message_type == DEEP_LINKING:
            data = "opaque-" + secrets.token_hex(8)
            with self.lock:
                self._dl_data.add(data)
            claims[DL_SETTINGS] = {
                "deep_link_return_url": self.url + "/deep_link_return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": True,
                "data": data,
            }
        return claims

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: str = "platform",
        kid: str | None = None,
        alg: str = "RS256",
        headers: dict[str, Any] | None = None,
        secret: bytes | str | None = None,
    ) -> str:
        """`key`: "platform", "rogue" (never published) or "previous" (after rotate_key).
        `alg`: RS256, none, or HS256 with `secret` (default: the platform's public PEM).
        In `headers`, a None value drops that header (e.g. {"kid": None})."""
        with self.lock:
            private = self._keys[key if alg != "HS256" else "platform"]
            header = {"kid": kid or self.kid, **(headers or {})}
        header = {k: v for k, v in header.items() if v is not None}
        return encode(claims, private, alg=alg, headers=header, secret=secret)

    # the browser flow

    def new_launch(self, user_id: str, **launch_options: Any) -> str:
        """Remembers a launch of `user_id` (launch_claims options) under a fresh login_hint."""
        if not self.tool_login_url or not self.tool_launch_url:
            raise RuntimeError("set tool_login_url and tool_launch_url before launching")
        self.launch_claims(user_id, **launch_options)  # unknown user or option fails here
        hint = "hint-" + secrets.token_urlsafe(12)
        with self.lock:
            self._pending[hint] = PendingLaunch(
                user_id, "msg-" + secrets.token_urlsafe(12), dict(launch_options)
            )
            self.last_login_hint = hint
        return hint

    def login_params(self, login_hint: str) -> dict[str, str]:
        """The third-party login initiation fields for a pending launch."""
        with self.lock:
            pending = self._pending[login_hint]
        return {
            "iss": self.issuer,
            "login_hint": login_hint,
            "target_link_uri": self.tool_launch_url,
            "lti_message_hint": pending.message_hint,
            "client_id": self.client_id,
            "lti_deployment_id": self.deployment_id,
        }

    def platform_fields(self, name: str = "sim") -> dict[str, str]:
        """What coursehub is told of this platform when it is registered (the fields of
        LtiPlatformConfig and of Platform)."""
        return {
            "name": name,
            "issuer": self.issuer,
            "client_id": self.client_id,
            "auth_login_url": self.auth_login_url,
            "auth_token_url": self.auth_token_url,
            "key_set_url": self.key_set_url,
        }

    def initiation_url(self, user_id: str, *, method: str = "GET", **launch_options: Any) -> str:
        """GET: tool_login_url with the initiation query. POST: this platform's /start
        page, which auto-POSTs the same fields to tool_login_url (as Moodle does)."""
        hint = self.new_launch(user_id, **launch_options)
        if method.upper() == "POST":
            return self.start_url(hint)
        return self.tool_login_url + "?" + urlencode(self.login_params(hint))

    def start_url(self, login_hint: str) -> str:
        return f"{self.url}/start/{login_hint}"

    def embed_url(self, login_hint: str, *, frame_host: str = "localhost") -> str:
        """A page at this platform framing /start under `frame_host` (cross-site from
        127.0.0.1 when "localhost")."""
        return f"{self.url}/embed/{login_hint}?" + urlencode({"frame_host": frame_host})

    def pending_launch(self, login_hint: str) -> PendingLaunch | None:
        with self.lock:
            return self._pending.get(login_hint)

    def id_token_for(self, pending: PendingLaunch, nonce: str) -> str:
        """What /auth answers with: the pending launch signed, after any tamper_next."""
        claims = self.launch_claims(pending.user_id, nonce=nonce, **pending.options)
        headers: dict[str, Any] = {"kid": self.kid}
        key = "platform"
        with self.lock:
            tamper = self._tampers.pop(0) if self._tampers else None
        if tamper is not None:
            claims, key = tamper(claims, headers)
            headers.setdefault("kid", None)  # a tamper that deletes kid means no kid
        alg = headers.pop("alg", "RS256")
        return self.sign(claims, key=key, alg=alg, headers=headers)

    # knobs for tests

    def tamper_next(self, fn: Tamper) -> None:
        """fn(claims, headers) -> (claims, key name) edits the next id_token /auth makes;
        set headers["alg"] to "none" or "HS256" for those attacks."""
        with self.lock:
            self._tampers.append(fn)

    def fail_next(
        self, path_prefix: str, count: int = 1, status: int = 500, retry_after: int | None = None
    ) -> None:
        """The next `count` requests whose path starts with `path_prefix` get `status`."""
        with self.lock:
            self._faults.append(Fault(path_prefix, count, status, retry_after))

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.remaining > 0 and path.startswith(fault.prefix):
                    fault.remaining -= 1
                    return fault
        return None

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (a tool must fetch another)."""
        with self.lock:
            self._access_tokens.clear()

    def issue_access_token(self, scopes: frozenset[str]) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self._access_tokens[token] = AccessToken(scopes, time.time() + self.token_lifetime)
            self.tokens_issued += 1
        return token

    def access_token(self, token: str) -> AccessToken | None:
        with self.lock:
            found = self._access_tokens.get(token)
        return found if found is not None and found.expires_at > time.time() else None

    def first_use_of_jti(self, jti: str) -> bool:
        with self.lock:
            if jti in self._seen_jtis:
                return False
            self._seen_jtis.add(jti)
            return True

    def issued_deep_link_data(self, data: object) -> bool:
        with self.lock:
            return isinstance(data, str) and data in self._dl_data

    def new_line_item_url(self, context_id: str) -> str:
        with self.lock:
            n, self._next_item = self._next_item, self._next_item + 1
        return f"{self.url}/ags/{context_id}/lineitems/{n}"
