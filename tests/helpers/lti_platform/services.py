"""The platform's services: OAuth2 client credentials (/token), AGS 2.0 line items,
scores and results, NRPS 2.0 memberships, and the deep-linking return."""

from __future__ import annotations

import html
import json
import urllib.request
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jwt

from tests.helpers.lti_platform.handler import Request, Response, json_response, page
from tests.helpers.lti_platform.tokens import (
    ALL_SCOPES,
    ASSERTION_TYPE,
    DL,
    LINEITEM_TYPE,
    LINEITEMS_TYPE,
    LTI,
    MEMBERSHIPS_TYPE,
    RESULTS_TYPE,
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READ,
    SCOPE_NRPS,
    SCOPE_RESULT_READ,
    SCOPE_SCORE,
    SCORE_TYPE,
    verify_with_jwks,
)

if TYPE_CHECKING:
    from tests.helpers.lti_platform.simulator import PlatformSimulator

ACTIVITY = {"Initialized", "Started", "InProgress", "Submitted", "Completed"}
GRADING = {"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"}


def oauth_error(status: int, error: str, description: str) -> Response:
    return json_response(status, {"error": error, "error_description": description})


def tool_key_set(sim: PlatformSimulator) -> dict[str, Any]:
    """The tool's JWKS: `tool_jwks` if a test set it, else fetched (never cached)."""
    if sim.tool_jwks is not None:
        return sim.tool_jwks
    if not sim.tool_jwks_url:
        raise ValueError("the tool's JWKS URL is not configured")
    with urllib.request.urlopen(sim.tool_jwks_url, timeout=10) as resp:  # noqa: S310
        return json.loads(resp.read())


def token(sim: PlatformSimulator, req: Request) -> Response:
    form = req.form
    if form.get("grant_type") != "client_credentials":
        return oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
        return oauth_error(400, "invalid_request", "a jwt-bearer client_assertion is required")
    scopes = frozenset(form.get("scope", "").split())
    if not scopes or not scopes <= ALL_SCOPES:
        return oauth_error(400, "invalid_scope", f"unknown or missing scope {sorted(scopes)}")
    try:
        key_set = tool_key_set(sim)
    except (OSError, ValueError) as exc:
        return oauth_error(401, "invalid_client", f"cannot get the tool's keys: {exc}")
    try:
        claims = verify_with_jwks(
            form["client_assertion"], key_set, audience=sim.auth_token_url, issuer=sim.client_id
        )
    except jwt.ExpiredSignatureError:
        return oauth_error(400, "invalid_grant", "the client assertion has expired")
    except jwt.PyJWTError as exc:
        return oauth_error(401, "invalid_client", f"client assertion refused: {exc}")
    if claims.get("sub") != sim.client_id:
        return oauth_error(401, "invalid_client", "the assertion's sub must be the client_id")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        return oauth_error(400, "invalid_grant", "the client assertion has no jti")
    if not sim.first_use_of_jti(jti):
        return oauth_error(400, "invalid_grant", "the client assertion's jti was already used")
    access = sim.issue_access_token(scopes)
    return json_response(
        200,
        {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": sim.token_lifetime,
            "scope": " ".join(sorted(scopes)),
        },
    )


def _guard(sim: PlatformSimulator, req: Request, ctx: str, *scopes: str) -> Response | None:
    """401 without a live access token, 403 without one of `scopes`, 404 for another context."""
    kind, _, value = req.headers.get("authorization", "").partition(" ")
    access = sim.access_token(value.strip()) if kind.lower() == "bearer" else None
    if access is None:
        resp = oauth_error(401, "invalid_token", "a valid Bearer access token is required")
        resp.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return resp
    if not access.scopes & set(scopes):
        return oauth_error(403, "insufficient_scope", f"needs one of {list(scopes)}")
    if ctx != sim.context["id"]:
        return json_response(404, {"error": f"no context {ctx!r}"})
    return None


def _json_body(req: Request, media_type: str) -> dict[str, Any] | Response:
    if req.content_type != media_type:
        return json_response(415, {"error": f"Content-Type must be {media_type}"})
    try:
        data = json.loads(req.body)
    except ValueError:
        return json_response(400, {"error": "the body is not JSON"})
    return data if isinstance(data, dict) else json_response(400, {"error": "expected an object"})


def _paged(
    sim: PlatformSimulator, req: Request, items: list[Any], media_type: str, body: Any = None
) -> Response:
    """One page of `items` (as `body["members"]` when body is given, else a bare list),
    with a Link rel="next" header while more remain."""
    try:
        asked = int(req.query.get("limit", sim.page_size))
        number = max(1, int(req.query.get("page", "1")))
    except ValueError:
        return json_response(400, {"error": "limit and page must be integers"})
    limit = max(1, min(asked, sim.page_size))
    first = (number - 1) * limit
    chunk = items[first : first + limit]
    resp = json_response(200, chunk if body is None else {**body, "members": chunk}, media_type)
    if first + limit < len(items):
        query = urlencode({**req.query, "limit": str(limit), "page": str(number + 1)})
        resp.headers["Link"] = f'<{sim.url}{req.path}?{query}>; rel="next"'
    return resp


def _checked_item(body: dict[str, Any], item_id: str) -> dict[str, Any] | Response:
    label, maximum = body.get("label"), body.get("scoreMaximum")
    if not isinstance(label, str) or not label.strip():
        return json_response(400, {"error": "label is required"})
    if isinstance(maximum, bool) or not isinstance(maximum, int | float) or maximum <= 0:
        return json_response(400, {"error": "scoreMaximum must be a number above 0"})
    for name in ("resourceId", "resourceLinkId", "tag"):
        if name in body and not isinstance(body[name], str):
            return json_response(400, {"error": f"{name} must be a string"})
    return {**body, "id": item_id}


def list_items(sim: PlatformSimulator, req: Request, ctx: str) -> Response:
    denied = _guard(sim, req, ctx, SCOPE_LINEITEM, SCOPE_LINEITEM_READ)
    if denied:
        return denied
    filters = {"resource_id": "resourceId", "resource_link_id": "resourceLinkId", "tag": "tag"}
    with sim.lock:
        items = [dict(i) for i in sim.line_items.values()]
    for param, name in filters.items():
        if param in req.query:
            items = [i for i in items if i.get(name) == req.query[param]]
    return _paged(sim, req, items, LINEITEMS_TYPE)


def create_item(sim: PlatformSimulator, req: Request, ctx: str) -> Response:
    denied = _guard(sim, req, ctx, SCOPE_LINEITEM)
    body = denied or _json_body(req, LINEITEM_TYPE)
    if isinstance(body, Response):
        return body
    item = _checked_item(body, sim.new_line_item_url(ctx))
    if isinstance(item, Response):
        return item
    with sim.lock:
        sim.line_items[item["id"]] = item
    return json_response(201, item, LINEITEM_TYPE)


def _item_url(sim: PlatformSimulator, ctx: str, n: str) -> str:
    return f"{sim.url}/ags/{ctx}/lineitems/{n}"


def _existing(sim: PlatformSimulator, item_id: str) -> dict[str, Any] | Response:
    with sim.lock:
        item = sim.line_items.get(item_id)
    return dict(item) if item else json_response(404, {"error": "no such line item"})


def get_item(sim: PlatformSimulator, req: Request, ctx: str, n: str) -> Response:
    denied = _guard(sim, req, ctx, SCOPE_LINEITEM, SCOPE_LINEITEM_READ)
    item = denied or _existing(sim, _item_url(sim, ctx, n))
    return item if isinstance(item, Response) else json_response(200, item, LINEITEM_TYPE)


def put_item(sim: PlatformSimulator, req: Request, ctx: str, n: str) -> Response:
    item_id = _item_url(sim, ctx, n)
    denied = _guard(sim, req, ctx, SCOPE_LINEITEM) or _existing(sim, item_id)
    if isinstance(denied, Response):
        return denied
    body = _json_body(req, LINEITEM_TYPE)
    item = body if isinstance(body, Response) else _checked_item(body, item_id)
    if isinstance(item, Response):
        return item
    with sim.lock:
        sim.line_items[item_id] = item
    return json_response(200, item, LINEITEM_TYPE)


def delete_item(sim: PlatformSimulator, req: Request, ctx: str, n: str) -> Response:
    item_id = _item_url(sim, ctx, n)
    denied = _guard(sim, req, ctx, SCOPE_LINEITEM) or _existing(sim, item_id)
    if isinstance(denied, Response):
        return denied
    with sim.lock:
        del sim.line_items[item_id]
        for key in [k for k in sim.scores if k[0] == item_id]:
            del sim.scores[key]
    return Response(204)


def _score_problem(sim: PlatformSimulator, score: dict[str, Any]) -> str | None:
    with sim.lock:
        member = score.get("userId") in sim.members
    if not member:
        return f"userId {score.get('userId')!r} is not a member of this context"
    if score.get("activityProgress") not in ACTIVITY:
        return f"activityProgress must be one of {sorted(ACTIVITY)}"
    if score.get("gradingProgress") not in GRADING:
        return f"gradingProgress must be one of {sorted(GRADING)}"
    if _timestamp(score.get("timestamp")) is None:
        return "timestamp must be an ISO 8601 date-time with a time zone"
    given, maximum = score.get("scoreGiven"), score.get("scoreMaximum")
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, int | float) or given < 0:
            return "scoreGiven must be a number of at least 0"
        if isinstance(maximum, bool) or not isinstance(maximum, int | float) or maximum <= 0:
            return "scoreMaximum must be a number above 0 when scoreGiven is sent"
    return None


def _timestamp(value: object) -> datetime | None:
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return when if when is not None and when.tzinfo is not None else None


def post_score(sim: PlatformSimulator, req: Request, ctx: str, n: str) -> Response:
    item_id = _item_url(sim, ctx, n)
    denied = _guard(sim, req, ctx, SCOPE_SCORE) or _existing(sim, item_id)
    if isinstance(denied, Response):
        return denied
    score = _json_body(req, SCORE_TYPE)
    if isinstance(score, Response):
        return score
    problem = _score_problem(sim, score)
    if problem:
        return json_response(400, {"error": problem})
    user = score["userId"]
    with sim.lock:
        stored = sim.scores.get((item_id, user))
        # like real platforms: a score older than the one on record changes nothing
        new_time, old_time = (
            _timestamp(score["timestamp"]),
            _timestamp((stored or {}).get("timestamp")),
        )
        accepted = old_time is None or (new_time is not None and new_time >= old_time)
        sim.score_posts.append({"line_item": item_id, "score": score, "accepted": accepted})
        if accepted:
            sim.scores[(item_id, user)] = score
    return json_response(200, {"resultUrl": f"{item_id}/results?{urlencode({'user_id': user})}"})


def results(sim: PlatformSimulator, req: Request, ctx: str, n: str) -> Response:
    item_id = _item_url(sim, ctx, n)
    item = _guard(sim, req, ctx, SCOPE_RESULT_READ) or _existing(sim, item_id)
    if isinstance(item, Response):
        return item
    wanted = req.query.get("user_id")
    with sim.lock:
        scores = [(u, dict(s)) for (i, u), s in sim.scores.items() if i == item_id]
    out = []
    for user, score in scores:
        if wanted and user != wanted:
            continue
        result: dict[str, Any] = {"id": f"{item_id}/results/{user}", "scoreOf": item_id}
        result["userId"] = user
        if score.get("scoreGiven") is not None:  # scaled to the line item's maximum
            scale = item["scoreMaximum"] / score["scoreMaximum"]
            result["resultScore"] = score["scoreGiven"] * scale
            result["resultMaximum"] = item["scoreMaximum"]
        if "comment" in score:
            result["comment"] = score["comment"]
        out.append(result)
    return _paged(sim, req, out, RESULTS_TYPE)


def memberships(sim: PlatformSimulator, req: Request, ctx: str) -> Response:
    denied = _guard(sim, req, ctx, SCOPE_NRPS)
    if denied:
        return denied
    with sim.lock:
        members = [dict(m) for m in sim.members.values()]
        context = {k: sim.context[k] for k in ("id", "label", "title") if k in sim.context}
    if "role" in req.query:
        members = [m for m in members if req.query["role"] in m["roles"]]
    body = {"id": req.url, "context": context}
    return _paged(sim, req, members, MEMBERSHIPS_TYPE, body)


def deep_link_return(sim: PlatformSimulator, req: Request) -> Response:
    token_ = req.form.get("JWT", "")
    if not token_:
        return page(400, "<p>No JWT in the deep-linking response.</p>")
    try:
        claims = verify_with_jwks(
            token_, tool_key_set(sim), audience=sim.issuer, issuer=sim.client_id
        )
    except (OSError, ValueError, jwt.PyJWTError) as exc:
        return page(400, f"<p>Deep-linking response refused: {html.escape(str(exc))}</p>")
    problems = [
        claims.get(LTI + "message_type") != "LtiDeepLinkingResponse"
        and "message_type must be LtiDeepLinkingResponse",
        claims.get(LTI + "version") != "1.3.0" and "version must be 1.3.0",
        claims.get(LTI + "deployment_id") != sim.deployment_id and "wrong deployment_id",
        not sim.issued_deep_link_data(claims.get(DL + "data"))
        and "data is not what the request sent",
        not claims.get("nonce") and "nonce is required",
        not isinstance(claims.get(DL + "content_items", []), list)
        and "content_items must be a list",
    ]
    refused = [p for p in problems if p]
    if refused:
        return page(400, "<p>Deep-linking response refused: " + html.escape("; ".join(refused)))
    with sim.lock:
        sim.deep_link_responses.append(claims)
    count = len(claims.get(DL + "content_items", []))
    return page(200, f"<p>Items added: {count}</p>", "Deep linking")
