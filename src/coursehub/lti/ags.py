"""LTI Assignment and Grade Services 2.0: one gradebook column (line item) per
assignment in each LMS course, found by its resourceId and our tag or made on first
use, and scores posted to it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from coursehub.db.models import LtiLineItem
from coursehub.db.session import Database
from coursehub.lti.platforms import Platform
from coursehub.lti.service_token import LmsCallError, ServiceTokens, next_link, same_origin

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READ = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READ = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
SCORE = "application/vnd.ims.lis.v1.score+json"
TAG = "coursehub"
MAX_PAGES = 20

_creating = threading.Lock()  # one line item made at a time in this process


class AgsError(LmsCallError):
    """The LMS course cannot take this assignment's scores (the message says why)."""


@dataclass(frozen=True)
class AgsContext:
    """What the grade services need of an LMS course (an LtiContext row)."""

    pk: int
    lineitems_url: str
    scopes: tuple[str, ...]

    def can_post_scores(self) -> bool:
        return bool(self.lineitems_url) and SCOPE_SCORE in self.scopes

    def call_scopes(self) -> list[str]:
        """The scopes to ask a token for: scores, and line items as far as offered."""
        wanted = [SCOPE_SCORE]
        if SCOPE_LINEITEM in self.scopes:
            wanted.append(SCOPE_LINEITEM)
        elif SCOPE_LINEITEM_READ in self.scopes:
            wanted.append(SCOPE_LINEITEM_READ)
        return wanted


@dataclass(frozen=True)
class ScorePost:
    user_id: str
    score_given: float
    score_maximum: float
    timestamp: datetime  # when the score was made: the same score is sent with the same time
    grading_progress: str = "FullyGraded"  # or PendingManual while points are due by hand

    def body(self) -> dict[str, Any]:
        stamp = self.timestamp if self.timestamp.tzinfo else self.timestamp.replace(tzinfo=UTC)
        return {
            "userId": self.user_id,
            "scoreGiven": self.score_given,
            "scoreMaximum": self.score_maximum,
            "activityProgress": "Completed",
            "gradingProgress": self.grading_progress,
            "timestamp": stamp.astimezone(UTC).isoformat(timespec="milliseconds"),
        }


def scores_url(line_item_url: str) -> str:
    """The line item's scores endpoint: /scores after its path, query kept."""
    parts = urlsplit(line_item_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def find_line_item(
    tokens: ServiceTokens, platform: Platform, context: AgsContext, assignment: str
) -> str | None:
    """The URL of our line item for `assignment` in the LMS course, if it has one."""
    url: str | None = context.lineitems_url
    params: dict[str, str] | None = {"resource_id": assignment, "tag": TAG}
    for _ in range(MAX_PAGES):
        if url is None:
            return None
        response = tokens.call(
            platform,
            context.call_scopes(),
            "GET",
            url,
            accept=LINEITEM_CONTAINER,
            what="looking up the LMS gradebook column",
            params=params,
        )
        items = _json(response)
        for item in items if isinstance(items, list) else []:
            # platforms that ignore the filters return every column: match ourselves
            if (
                isinstance(item, dict)
                and item.get("resourceId") == assignment
                and item.get("tag") == TAG
                and isinstance(item.get("id"), str)
            ):
                return _checked(item["id"], context)
        url, params = next_link(response, context.lineitems_url), None
    return None


def create_line_item(
    tokens: ServiceTokens,
    platform: Platform,
    context: AgsContext,
    assignment: str,
    label: str,
    score_maximum: float,
) -> str:
    if SCOPE_LINEITEM not in context.scopes:
        raise AgsError(
            f"the LMS course has no gradebook column for {assignment} and does not let "
            "coursehub make one (scope lineitem not granted); add the column by hand with "
            f"the resource id {assignment!r} and tag {TAG!r}",
            403,
        )
    if score_maximum <= 0:
        raise AgsError(f"{assignment} has no points, so the LMS cannot take its scores", 400)
    body = {
        "scoreMaximum": score_maximum,
        "label": (label or assignment)[:255],
        "resourceId": assignment,
        "tag": TAG,
    }
    response = tokens.call(
        platform,
        context.call_scopes(),
        "POST",
        context.lineitems_url,
        accept=LINEITEM,
        what="making the LMS gradebook column",
        json=body,
        headers={"Content-Type": LINEITEM},
    )
    made = _json(response)
    if not isinstance(made, dict) or not isinstance(made.get("id"), str):
        raise AgsError("the LMS made the gradebook column but did not say its URL", 502)
    return _checked(made["id"], context)


def line_item_for(
    db: Database,
    tokens: ServiceTokens,
    platform: Platform,
    context: AgsContext,
    assignment: str,
    label: str,
    score_maximum: float,
) -> str:
    """Our line item's URL: remembered, found in the LMS, or made there."""
    known = _remembered(db, context.pk, assignment)
    if known is not None:
        return known
    with _creating:
        known = _remembered(db, context.pk, assignment)
        if known is not None:
            return known
        url = find_line_item(tokens, platform, context, assignment)
        if url is None:
            url = create_line_item(tokens, platform, context, assignment, label, score_maximum)
        try:
            with db.session() as s:
                s.add(LtiLineItem(context_pk=context.pk, assignment=assignment, url=url[:2000]))
        except IntegrityError:  # another process remembered it first
            return _remembered(db, context.pk, assignment) or url
        return url


def forget_line_item(db: Database, context_pk: int, assignment: str) -> None:
    """Forget a line item the LMS no longer has (deleted in its gradebook)."""
    with db.session() as s:
        s.execute(
            delete(LtiLineItem).where(
                LtiLineItem.context_pk == context_pk, LtiLineItem.assignment == assignment
            )
        )


def post_score(
    tokens: ServiceTokens,
    platform: Platform,
    context: AgsContext,
    line_item_url: str,
    score: ScorePost,
) -> None:
    tokens.call(
        platform,
        context.call_scopes(),
        "POST",
        scores_url(line_item_url),
        accept="application/json",
        what="sending the score",
        json=score.body(),
        headers={"Content-Type": SCORE},
    )


def send_score(
    db: Database,
    tokens: ServiceTokens,
    platform: Platform,
    context: AgsContext,
    assignment: str,
    label: str,
    score_maximum: float,
    score: ScorePost,
) -> None:
    """Post `score` to the assignment's line item (remembered, found or made); one
    deleted in the LMS's gradebook meanwhile (404) is looked up or made again."""
    for again in (True, False):
        url = line_item_for(db, tokens, platform, context, assignment, label, score_maximum)
        try:
            post_score(tokens, platform, context, url, score)
            return
        except LmsCallError as exc:
            if exc.status != 404 or not again:
                raise
            forget_line_item(db, context.pk, assignment)


def _remembered(db: Database, context_pk: int, assignment: str) -> str | None:
    with db.session() as s:
        return s.scalar(
            select(LtiLineItem.url).where(
                LtiLineItem.context_pk == context_pk, LtiLineItem.assignment == assignment
            )
        )


def _checked(url: str, context: AgsContext) -> str:
    if not same_origin(url, context.lineitems_url):
        raise AgsError(f"the LMS named a gradebook column on another site ({url[:100]})", 502)
    return url


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        raise AgsError("the LMS answered with something that is not JSON", 502) from None
