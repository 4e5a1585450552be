"""The LTI 1.3 platform simulator other tests launch coursehub from: its tokens, its
OIDC browser flow, and its services, driven over real HTTP on loopback."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from coursehub.lti.keys import ToolKey, jwks
from tests.helpers.lti_platform import (
    AGS_CLAIM,
    DL,
    DL_SETTINGS,
    INSTRUCTOR,
    LEARNER,
    LINEITEM_TYPE,
    LTI,
    NRPS_CLAIM,
    SCOPE_LINEITEM,
    SCOPE_NRPS,
    SCOPE_RESULT_READ,
    SCOPE_SCORE,
    SCORE_TYPE,
    TA,
    PlatformSimulator,
)

LOGIN = "http://tool.test/lti/login"
LAUNCH = "http://tool.test/lti/launch"


class FormPage(HTMLParser):
    """The form (action, hidden fields) or iframe src of a page the platform serves."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.action = self.method = self.iframe_src = ""
        self.fields: dict[str, str] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action, self.method = a.get("action", ""), a.get("method", "")
        elif tag == "input" and "name" in a:
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "iframe":
            self.iframe_src = a.get("src", "")


@pytest.fixture(scope="module")
def tool_jwks_url(tool_key: ToolKey) -> Iterator[str]:
    body = json.dumps(jwks(tool_key)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture
def sim(tool_jwks_url: str) -> Iterator[PlatformSimulator]:
    with PlatformSimulator() as platform:
        platform.tool_login_url = LOGIN
        platform.tool_launch_url = LAUNCH
        platform.tool_jwks_url = tool_jwks_url
        for user_id, given, role in [("u-ada", "Ada", LEARNER), ("u-tim", "Tim", INSTRUCTOR)]:
            platform.add_member(
                user_id,
                name=f"{given} Example",
                given_name=given,
                family_name="Example",
                email=f"{given.lower()}@uni.test",
                roles=[role],
            )
        yield platform


@pytest.fixture
def http(sim: PlatformSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        yield client


def platform_key(sim: PlatformSimulator, kid: str) -> Any:
    published = httpx.get(sim.key_set_url).json()
    [entry] = [k for k in published["keys"] if k["kid"] == kid]
    return RSAAlgorithm.from_jwk(entry)


def decode_launch(sim: PlatformSimulator, token: str) -> dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    return jwt.decode(token, platform_key(sim, kid), algorithms=["RS256"], audience=sim.client_id)


def assertion(sim: PlatformSimulator, key: ToolKey, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": sim.client_id,
        "sub": sim.client_id,
        "aud": [sim.auth_token_url],
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_hex(8),
        **changes,
    }
    return jwt.encode(claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid})


def token_request(http: httpx.Client, client_assertion: str, scope: str) -> httpx.Response:
    return http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion,
            "scope": scope,
        },
    )


def bearer(sim: PlatformSimulator, http: httpx.Client, key: ToolKey, *scopes: str) -> dict:
    answer = token_request(http, assertion(sim, key), " ".join(scopes))
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def other_key_pem() -> bytes:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_published_jwks_verifies_platform_tokens_and_not_hostile_ones(
    sim: PlatformSimulator,
) -> None:
    claims = sim.launch_claims("u-ada", custom={"course": "phys"})
    assert claims[LTI + "message_type"] == "LtiResourceLinkRequest"
    assert claims[LTI + "roles"] == [LEARNER] and claims[LTI + "custom"] == {"course": "phys"}
    assert claims[LTI + "context"]["id"] == "ctx-101"
    assert claims[AGS_CLAIM]["lineitems"] == sim.url + "/ags/ctx-101/lineitems"
    assert claims[NRPS_CLAIM]["context_memberships_url"] == sim.url + "/nrps/ctx-101/memberships"
    assert decode_launch(sim, sim.sign(claims))["sub"] == "u-ada"

    key = platform_key(sim, sim.kid)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(sim.sign(claims, key="rogue"), key, algorithms=["RS256"], audience="x")
    for hostile in (sim.sign(claims, alg="none"), sim.sign(claims, alg="HS256")):
        assert jwt.get_unverified_header(hostile)["kid"] == sim.kid
        with pytest.raises(jwt.InvalidAlgorithmError):
            jwt.decode(hostile, key, algorithms=["RS256"], audience=sim.client_id)
    assert "kid" not in jwt.get_unverified_header(sim.sign(claims, headers={"kid": None}))


def test_rotated_key_is_published_beside_the_old_one(sim: PlatformSimulator) -> None:
    old = sim.kid
    new = sim.rotate_key()
    kids = {k["kid"] for k in httpx.get(sim.key_set_url).json()["keys"]}
    assert kids == {old, new}
    claims = sim.launch_claims("u-ada")
    assert decode_launch(sim, sim.sign(claims, key="previous", kid=old))["sub"] == "u-ada"
    assert decode_launch(sim, sim.sign(claims))["sub"] == "u-ada"


def auth_params(sim: PlatformSimulator, initiation: dict[str, str], **changes: str) -> dict:
    return {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": initiation["client_id"],
        "redirect_uri": initiation["target_link_uri"],
        "login_hint": initiation["login_hint"],
        "lti_message_hint": initiation["lti_message_hint"],
        "nonce": "nonce-123",
        "state": "state-456",
        **changes,
    }


def test_oidc_flow_answers_a_signed_launch_carrying_the_nonce(
    sim: PlatformSimulator, http: httpx.Client
) -> None:
    url = sim.initiation_url("u-tim", resource_link_id="rl-7")
    assert url.startswith(LOGIN + "?")
    initiation = dict(parse_qsl(urlsplit(url).query))
    assert initiation["iss"] == sim.issuer and initiation["target_link_uri"] == LAUNCH
    assert initiation["login_hint"] == sim.last_login_hint
    assert initiation["client_id"] == "coursehub-tool" and initiation["lti_deployment_id"] == "1"

    answer = http.post("/auth", data=auth_params(sim, initiation))
    assert answer.status_code == 200, answer.text
    form = FormPage(answer.text)
    assert (form.action, form.method) == (LAUNCH, "post")
    assert form.fields["state"] == "state-456"
    claims = decode_launch(sim, form.fields["id_token"])
    assert claims["nonce"] == "nonce-123" and claims["sub"] == "u-tim"
    assert claims[LTI + "roles"] == [INSTRUCTOR]
    assert claims[LTI + "resource_link"]["id"] == "rl-7"
    assert sim.auth_requests[-1]["login_hint"] == initiation["login_hint"]

    # GET works too, as some tools redirect rather than post
    again = http.get("/auth", params=auth_params(sim, initiation, nonce="n-2"))
    assert decode_launch(sim, FormPage(again.text).fields["id_token"])["nonce"] == "n-2"


def test_oidc_flow_refuses_what_a_platform_would(
    sim: PlatformSimulator, http: httpx.Client
) -> None:
    initiation = dict(parse_qsl(urlsplit(sim.initiation_url("u-ada")).query))
    cases = {
        "redirect_uri": auth_params(sim, initiation, redirect_uri="http://evil.test/launch"),
        "login_hint": auth_params(sim, initiation, login_hint="never-issued"),
        "prompt": auth_params(sim, initiation, prompt="login"),
        "client_id": auth_params(sim, initiation, client_id="other-tool"),
    }
    for word, params in cases.items():
        answer = http.post("/auth", data=params)
        assert answer.status_code == 400 and word in answer.text, (word, answer.text)
        assert "id_token" not in answer.text


def test_moodle_style_start_page_and_embedding(sim: PlatformSimulator, http: httpx.Client) -> None:
    start = sim.initiation_url("u-ada", method="POST")
    hint = sim.last_login_hint
    form = FormPage(http.get(start).text)
    assert (form.action, form.method) == (LOGIN, "post")
    assert form.fields == sim.login_params(hint)
    assert "submit()" in http.get(start).text

    embedded = FormPage(http.get(sim.embed_url(hint, frame_host="localhost")).text)
    assert embedded.iframe_src == f"http://localhost:{sim.port}/start/{hint}"


def test_tamper_next_changes_only_the_next_launch(
    sim: PlatformSimulator, http: httpx.Client
) -> None:
    def self_signed(claims: dict, headers: dict) -> tuple[dict, str]:
        claims["sub"] = "u-tim"
        return claims, "rogue"

    sim.tamper_next(self_signed)
    initiation = dict(parse_qsl(urlsplit(sim.initiation_url("u-ada")).query))
    forged = FormPage(http.post("/auth", data=auth_params(sim, initiation)).text)
    with pytest.raises(jwt.InvalidSignatureError):
        decode_launch(sim, forged.fields["id_token"])
    honest = FormPage(http.post("/auth", data=auth_params(sim, initiation)).text)
    assert decode_launch(sim, honest.fields["id_token"])["sub"] == "u-ada"

    def unsigned(claims: dict, headers: dict) -> tuple[dict, str]:
        headers["alg"] = "none"
        return claims, "platform"

    sim.tamper_next(unsigned)
    bare = FormPage(http.post("/auth", data=auth_params(sim, initiation)).text).fields["id_token"]
    assert jwt.get_unverified_header(bare)["alg"] == "none"
    with pytest.raises(jwt.InvalidAlgorithmError):
        decode_launch(sim, bare)


def test_client_credentials_with_the_tools_key(
    sim: PlatformSimulator, http: httpx.Client, tool_key: ToolKey
) -> None:
    signed = assertion(sim, tool_key)
    answer = token_request(http, signed, f"{SCOPE_SCORE} {SCOPE_LINEITEM}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert set(body["scope"].split()) == {SCOPE_SCORE, SCOPE_LINEITEM}
    assert sim.tokens_issued == 1

    replayed = token_request(http, signed, SCOPE_SCORE)
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"
    wrong_aud = token_request(http, assertion(sim, tool_key, aud="http://other/token"), SCOPE_SCORE)
    assert wrong_aud.status_code == 401 and wrong_aud.json()["error"] == "invalid_client"
    impostor = jwt.encode(
        jwt.decode(assertion(sim, tool_key), options={"verify_signature": False}),
        other_key_pem(),
        algorithm="RS256",
        headers={"kid": tool_key.kid},
    )
    assert token_request(http, impostor, SCOPE_SCORE).json()["error"] == "invalid_client"
    expired = assertion(sim, tool_key, exp=int(time.time()) - 600)
    assert token_request(http, expired, SCOPE_SCORE).status_code == 400
    unknown_scope = token_request(http, assertion(sim, tool_key), "everything")
    assert unknown_scope.json()["error"] == "invalid_scope"
    assert sim.tokens_issued == 1


def score(user: str, given: float, when: datetime) -> dict[str, Any]:
    return {
        "userId": user,
        "scoreGiven": given,
        "scoreMaximum": 10,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": when.isoformat(),
    }


def test_ags_line_items_scores_and_results(
    sim: PlatformSimulator, http: httpx.Client, tool_key: ToolKey
) -> None:
    lineitems = sim.launch_claims("u-ada")[AGS_CLAIM]["lineitems"]
    assert http.get(lineitems).status_code == 401
    auth = bearer(sim, http, tool_key, SCOPE_LINEITEM, SCOPE_SCORE, SCOPE_RESULT_READ)
    json_headers = {**auth, "Content-Type": LINEITEM_TYPE}
    item = {"label": "Lab 1", "scoreMaximum": 20, "resourceId": "lab1", "resourceLinkId": "rl-1"}
    created = http.post(lineitems, headers=json_headers, content=json.dumps(item))
    assert created.status_code == 201, created.text
    item_url = created.json()["id"]
    assert item_url.startswith(lineitems + "/") and sim.line_items[item_url]["label"] == "Lab 1"
    other = {"label": "Lab 2", "scoreMaximum": 5, "resourceId": "lab2"}
    http.post(lineitems, headers=json_headers, content=json.dumps(other))
    assert sim.launch_claims("u-ada")[AGS_CLAIM]["lineitem"] == item_url

    found = http.get(lineitems, headers=auth, params={"resource_id": "lab1"})
    assert found.headers["content-type"] == "application/vnd.ims.lis.v2.lineitemcontainer+json"
    assert [i["id"] for i in found.json()] == [item_url]

    now = datetime.now(UTC)
    score_headers = {**auth, "Content-Type": SCORE_TYPE}
    posted = http.post(
        item_url + "/scores",
        headers=score_headers,
        content=json.dumps(score("u-ada", 7, now)),
    )
    assert posted.status_code == 200, posted.text
    stale = score("u-ada", 1, now - timedelta(minutes=5))
    http.post(item_url + "/scores", headers=score_headers, content=json.dumps(stale))
    assert [p["accepted"] for p in sim.score_posts] == [True, False]

    [result] = http.get(item_url + "/results", headers=auth).json()
    assert result["userId"] == "u-ada" and result["scoreOf"] == item_url
    assert (result["resultScore"], result["resultMaximum"]) == (14, 20)

    nobody = score("u-nobody", 1, now)
    refused = http.post(item_url + "/scores", headers=score_headers, content=json.dumps(nobody))
    assert refused.status_code == 400
    read_only = bearer(sim, http, tool_key, SCOPE_NRPS)
    assert http.get(item_url + "/results", headers=read_only).status_code == 403


def test_nrps_pages_and_injected_faults(
    sim: PlatformSimulator, http: httpx.Client, tool_key: ToolKey
) -> None:
    for n in range(3):
        sim.add_member(
            f"u-{n}",
            name=f"S {n}",
            given_name="S",
            family_name=str(n),
            email=f"s{n}@uni.test",
            roles=[TA if n == 0 else LEARNER],
        )
    sim.page_size = 2
    auth = bearer(sim, http, tool_key, SCOPE_NRPS)
    url: str | None = sim.launch_claims("u-ada")[NRPS_CLAIM]["context_memberships_url"]
    assert http.get(url).status_code == 401
    pages = []
    while url:
        answer = http.get(url, headers=auth)
        assert answer.status_code == 200
        assert answer.json()["context"]["id"] == "ctx-101"
        pages.append([m["user_id"] for m in answer.json()["members"]])
        url = answer.links.get("next", {}).get("url")
    assert pages == [["u-ada", "u-tim"], ["u-0", "u-1"], ["u-2"]]
    ada = http.get(sim.url + "/nrps/ctx-101/memberships", headers=auth).json()["members"][0]
    assert ada == {
        "status": "Active",
        "user_id": "u-ada",
        "roles": [LEARNER],
        "name": "Ada Example",
        "given_name": "Ada",
        "family_name": "Example",
        "email": "ada@uni.test",
    }

    sim.fail_next("/nrps/", 2, status=503, retry_after=3)
    first, second, third = (http.get("/nrps/ctx-101/memberships", headers=auth) for _ in "abc")
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.headers["Retry-After"] == "3"


def deep_link_response(sim: PlatformSimulator, pem: bytes, kid: str, data: str) -> str:
    now = int(time.time())
    claims = {
        "iss": sim.client_id,
        "aud": sim.issuer,
        "iat": now,
        "exp": now + 300,
        "nonce": secrets.token_hex(8),
        LTI + "message_type": "LtiDeepLinkingResponse",
        LTI + "version": "1.3.0",
        LTI + "deployment_id": sim.deployment_id,
        DL + "data": data,
        DL + "content_items": [{"type": "ltiResourceLink", "title": "Lab 1", "url": LAUNCH}],
    }
    return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid})


def test_deep_link_return_accepts_only_the_tools_key(
    sim: PlatformSimulator, http: httpx.Client, tool_key: ToolKey
) -> None:
    settings = sim.launch_claims("u-tim", deep_linking=True)[DL_SETTINGS]
    assert settings["deep_link_return_url"] == sim.url + "/deep_link_return"
    data = settings["data"]
    good = deep_link_response(sim, tool_key.private_pem, tool_key.kid, data)
    answer = http.post(settings["deep_link_return_url"], data={"JWT": good})
    assert answer.status_code == 200 and "Items added: 1" in answer.text
    assert sim.deep_link_responses[0][DL + "content_items"][0]["title"] == "Lab 1"

    forged = deep_link_response(sim, other_key_pem(), tool_key.kid, data)
    assert http.post("/deep_link_return", data={"JWT": forged}).status_code == 400
    made_up = deep_link_response(sim, tool_key.private_pem, tool_key.kid, "opaque-made-up")
    assert http.post("/deep_link_return", data={"JWT": made_up}).status_code == 400
    assert len(sim.deep_link_responses) == 1


def test_stops_listening_on_exit() -> None:
    with PlatformSimulator(client_id="c-2", deployment_id="d-2") as platform:
        assert httpx.get(platform.key_set_url).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(platform.key_set_url)
