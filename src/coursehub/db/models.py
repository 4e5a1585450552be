"""Tables the coursehub service owns (JupyterHub keeps its own tables)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from coursehub.db.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    """A person who may sign in, with their site-wide role."""

    __tablename__ = "coursehub_accounts"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    role: Mapped[str] = mapped_column(String(16), default="student")
    # bcrypt hash; NULL for accounts that sign in through GitHub or an LMS
    password_hash: Mapped[str | None] = mapped_column(String(100), nullable=True, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class AccountSignIn(Base):
    """A sign-in method that opens an account: the one that made it, and any an admin
    linked (`coursehub users link`). A name chosen through one method never opens an
    account of another. `subject` pins the outside identity where the method has a
    stable one (GitHub's numeric user id), so whoever takes a login someone gave up
    does not inherit their account."""

    __tablename__ = "coursehub_account_signins"
    __table_args__ = (UniqueConstraint("method", "subject"),)

    username: Mapped[str] = mapped_column(
        String(64), ForeignKey("coursehub_accounts.username", ondelete="CASCADE"), primary_key=True
    )
    method: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True, default=None)
    linked_by_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UsedSignInLink(Base):
    """An `?auth_token=` sign-in link already followed: links work once. Kept until the
    link expires, then pruned."""

    __tablename__ = "coursehub_used_signin_links"

    # sha256 of the link's verified claims
    link_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Course(Base):
    """A course: a git repository that coursehub keeps a read-only checkout of."""

    __tablename__ = "coursehub_courses"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    # As given (may hold a token); shown only redacted.
    repo_url: Mapped[str] = mapped_column(String(2000))
    branch: Mapped[str] = mapped_column(String(255))
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_pull_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_pull_ok: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    last_pull_output: Mapped[str] = mapped_column(Text, default="")
    # 40 hex digits for SHA-1 repositories, 64 for SHA-256 ones
    current_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Enrolment(Base):
    """A person's role in one course (not tied to an account: GitHub and LMS users
    may be enrolled before they first sign in)."""

    __tablename__ = "coursehub_enrolments"
    __table_args__ = (CheckConstraint("role IN ('instructor', 'ta', 'student')", name="role"),)

    course: Mapped[str] = mapped_column(
        String(40), ForeignKey("coursehub_courses.name", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16), default="student")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TeamEnrolment(Base):
    """An enrolment a GitHub team gave (auth.github.team_courses), with the role it
    gave: only such an enrolment, still with that role, is taken back when the person
    leaves the team. Enrolments from a roster or made by hand have no row here."""

    __tablename__ = "coursehub_team_enrolments"
    __table_args__ = (CheckConstraint("role IN ('instructor', 'ta', 'student')", name="role"),)

    course: Mapped[str] = mapped_column(
        String(40), ForeignKey("coursehub_courses.name", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NotebookCopy(Base):
    """A student's own copy of a course notebook: which course version it started
    from, so a page can tell "modified" from "course version changed"."""

    __tablename__ = "coursehub_notebook_copies"

    course: Mapped[str] = mapped_column(
        String(40), ForeignKey("coursehub_courses.name", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    # sha256 of the course file the copy was made from
    source_sha256: Mapped[str] = mapped_column(String(64))
    copied_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    first_opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    opens: Mapped[int] = mapped_column(Integer, default=1)


class Share(Base):
    """A static HTML snapshot of a student's notebook at an unguessable URL."""

    __tablename__ = "coursehub_shares"
    __table_args__ = (UniqueConstraint("course", "username", "path"),)

    # secrets.token_urlsafe(24): 32 characters, the whole capability
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    course: Mapped[str] = mapped_column(
        String(40), ForeignKey("coursehub_courses.name", ondelete="CASCADE")
    )
    username: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Event(Base):
    """Something that happened in a student's notebook (opened, saved, cell run...)."""

    __tablename__ = "coursehub_events"
    __table_args__ = (
        Index("ix_coursehub_events_course_id", "course", "id"),
        Index("ix_coursehub_events_username_id", "username", "id"),
        Index("ix_coursehub_events_timestamp", "timestamp"),
    )

    # BIGINT on PostgreSQL; SQLite's autoincrementing key must be INTEGER.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    type: Mapped[str] = mapped_column(String(32))
    username: Mapped[str] = mapped_column(String(64))
    course: Mapped[str | None] = mapped_column(String(40), nullable=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    path: Mapped[str] = mapped_column(String(1000), default="")
    # when it happened (the sender's clock, checked), and when the service got it
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # type-specific details as JSON text (content hash, error name, ...), bounded
    data: Mapped[str] = mapped_column(Text, default="{}")


class LiveNotebook(Base):
    """The latest known state of one student's copy of one notebook (live class view)."""

    __tablename__ = "coursehub_live_notebooks"
    __table_args__ = (UniqueConstraint("course", "path", "username"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course: Mapped[str] = mapped_column(String(40))
    path: Mapped[str] = mapped_column(String(1000))
    username: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    saved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the compact tail (events.tail.NotebookTail) as JSON text
    tail: Mapped[str | None] = mapped_column(Text, nullable=True)
    ran_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_status: Mapped[str | None] = mapped_column(String(8), nullable=True)  # ok / error
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kernel: Mapped[str | None] = mapped_column(String(8), nullable=True)  # started / died
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Assignment(Base):
    """An assignment of a course, authored for nbgrader or otter-grader."""

    __tablename__ = "coursehub_assignments"
    __table_args__ = (
        UniqueConstraint("course", "name"),
        CheckConstraint("format IN ('nbgrader', 'otter')", name="format"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # not a foreign key: assignments made through the remote grading API belong to an
    # LMS course that need not exist here
    course: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200), default="")
    origin: Mapped[str] = mapped_column(String(16), default="course")  # course | remote
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # un-released: students may still hold copies and submissions (None: never taken back)
    taken_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    # JSON: [{"name", "points", "kind": "auto" | "manual", "notebook"}]
    questions: Mapped[str] = mapped_column(Text, default="[]")
    max_points: Mapped[float] = mapped_column(default=0.0)
    # JSON: relative paths of the student version's files
    files: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Extension(Base):
    """A later due date for one student."""

    __tablename__ = "coursehub_extensions"

    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("coursehub_assignments.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    granted_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Submission(Base):
    """One attempt: its files and time never change (its lateness follows the due date);
    every attempt is kept."""

    __tablename__ = "coursehub_submissions"
    __table_args__ = (
        UniqueConstraint(
            "assignment_id", "username", "attempt", name="uq_coursehub_submissions_attempt"
        ),
        # a retried POST with the same key is the same submission
        UniqueConstraint(
            "assignment_id", "username", "client_key", name="uq_coursehub_submissions_client_key"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("coursehub_assignments.id", ondelete="CASCADE"), index=True
    )
    username: Mapped[str] = mapped_column(String(64), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # 0: on time; measured again when the due date or the student's extension changes
    late_seconds: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64))  # of the stored files, in order
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    files: Mapped[str] = mapped_column(Text, default="[]")
    origin: Mapped[str] = mapped_column(String(16), default="workspace")
    client_key: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Grading(Base):
    """One autograding run of a submission: queued, running, done or failed.
    Re-grading adds a run; the newest finished one counts."""

    __tablename__ = "coursehub_gradings"
    __table_args__ = (Index("ix_coursehub_gradings_state_id", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("coursehub_submissions.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), default="queued")
    requested_by: Mapped[str] = mapped_column(String(64), default="")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[float | None] = mapped_column(nullable=True)
    max_total: Mapped[float] = mapped_column(default=0.0)
    # JSON: {question: {"points", "max", "kind", "passed", "hidden", "message"}}
    questions: Mapped[str] = mapped_column(Text, default="{}")
    outcome: Mapped[str] = mapped_column(String(300), default="")
    # JSON list of what the grader noticed: changed test cells, reset hooks, ...
    notes: Mapped[str] = mapped_column(Text, default="[]")
    output: Mapped[str] = mapped_column(Text, default="")  # for staff: test output
    seconds: Mapped[float | None] = mapped_column(nullable=True)


class ManualGrade(Base):
    """Points and a comment given by staff to one question of one submission."""

    __tablename__ = "coursehub_manual_grades"

    submission_id: Mapped[int] = mapped_column(
        ForeignKey("coursehub_submissions.id", ondelete="CASCADE"), primary_key=True
    )
    question: Mapped[str] = mapped_column(String(64), primary_key=True)
    points: Mapped[float | None] = mapped_column(nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    grader: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LtiPlatform(Base):
    """An LMS registered as an LTI 1.3 platform (from coursehub.yaml or the CLI)."""

    __tablename__ = "coursehub_lti_platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(24), unique=True)
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    # JSON list; empty: any deployment of this platform
    deployment_ids: Mapped[str] = mapped_column(Text, default="[]")
    auth_login_url: Mapped[str] = mapped_column(String(2000))
    auth_token_url: Mapped[str] = mapped_column(String(2000))
    key_set_url: Mapped[str] = mapped_column(String(2000))
    source: Mapped[str] = mapped_column(String(8), default="cli")  # config | cli
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LtiIdentity(Base):
    """Who an LMS user is here: (platform, `sub`) -> one coursehub username, for good."""

    __tablename__ = "coursehub_lti_identities"
    __table_args__ = (UniqueConstraint("platform_id", "username"),)

    platform_id: Mapped[int] = mapped_column(
        ForeignKey("coursehub_lti_platforms.id", ondelete="CASCADE"), primary_key=True
    )
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_launch_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LtiContext(Base):
    """An LMS course (context) and the coursehub course it is linked to, with the
    service endpoints the platform offered for it (grades, roster)."""

    __tablename__ = "coursehub_lti_contexts"
    __table_args__ = (UniqueConstraint("platform_id", "context_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("coursehub_lti_platforms.id", ondelete="CASCADE")
    )
    context_id: Mapped[str] = mapped_column(String(255))
    deployment_id: Mapped[str] = mapped_column(String(255), default="")
    # NULL until linked (or created); unlinked when the course is removed
    course: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("coursehub_courses.name", ondelete="SET NULL"), nullable=True
    )
    title: Mapped[str] = mapped_column(String(255), default="")
    label: Mapped[str] = mapped_column(String(255), default="")
    ags_lineitems_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    ags_scopes: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    nrps_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    roster_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    roster_sync_outcome: Mapped[str] = mapped_column(String(300), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LtiState(Base):
    """One OIDC login initiation: its `state` (also in a browser cookie) and the
    `nonce` the id_token must carry; both single-use."""

    __tablename__ = "coursehub_lti_states"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("coursehub_lti_platforms.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SignInTicket(Base):
    """A one-time, short-lived permission for the hub to sign a verified user in
    (made by the service after a valid LTI launch)."""

    __tablename__ = "coursehub_signin_tickets"

    # sha256 of the ticket: the database never holds the ticket itself
    ticket_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # sha256 of the browser binding (a cookie value): only that browser may redeem it
    binding_hash: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(64))
    next_url: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LtiLaunch(Base):
    """A validated launch kept for the pages that follow it (deep linking)."""

    __tablename__ = "coursehub_lti_launches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # random, unguessable
    username: Mapped[str] = mapped_column(String(64))
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("coursehub_lti_platforms.id", ondelete="CASCADE")
    )
    context_pk: Mapped[int | None] = mapped_column(
        ForeignKey("coursehub_lti_contexts.id", ondelete="CASCADE"), nullable=True
    )
    message_type: Mapped[str] = mapped_column(String(64))
    claims: Mapped[str] = mapped_column(Text, default="{}")  # the id_token's claims, JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LtiLineItem(Base):
    """The LMS gradebook column (AGS line item) of one assignment in one LMS course."""

    __tablename__ = "coursehub_lti_lineitems"
    __table_args__ = (UniqueConstraint("context_pk", "assignment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("coursehub_lti_contexts.id", ondelete="CASCADE")
    )
    assignment: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LtiGradeSync(Base):
    """The latest score of one student on one assignment, to be sent to one LMS
    course; re-queued (not duplicated) when the score changes."""

    __tablename__ = "coursehub_lti_grade_sync"
    __table_args__ = (
        UniqueConstraint("context_pk", "assignment", "username"),
        Index("ix_coursehub_lti_grade_sync_status_next", "status", "next_try_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("coursehub_lti_contexts.id", ondelete="CASCADE")
    )
    course: Mapped[str] = mapped_column(String(40), index=True)
    assignment: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(nullable=True)
    max_score: Mapped[float] = mapped_column(default=0.0)
    # when the score was made (sent as the AGS timestamp, so resends are idempotent)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str] = mapped_column(String(8), default="pending")  # pending|sending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str] = mapped_column(String(300), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StatSample(Base):
    """One monitor sample (resolution "raw") or the average of an hour of them
    ("hour"). `course` is "" for the machine-wide figures (CPU, memory, disk)."""

    __tablename__ = "coursehub_stat_samples"
    __table_args__ = (Index("ix_coursehub_stat_samples_course_at", "course", "resolution", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolution: Mapped[str] = mapped_column(String(8), default="raw")  # raw | hour
    course: Mapped[str] = mapped_column(String(40), default="")
    servers: Mapped[float] = mapped_column(Float, default=0.0)
    kernels: Mapped[float] = mapped_column(Float, default=0.0)
    busy_kernels: Mapped[float] = mapped_column(Float, default=0.0)
    cpu_load: Mapped[float | None] = mapped_column(Float, nullable=True)  # 1-min load average
    cpu_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    memory_used: Mapped[float | None] = mapped_column(Float, nullable=True)  # bytes
    memory_total: Mapped[float | None] = mapped_column(Float, nullable=True)
    disk_free: Mapped[float | None] = mapped_column(Float, nullable=True)  # data directory's
    disk_total: Mapped[float | None] = mapped_column(Float, nullable=True)
    samples: Mapped[int] = mapped_column(Integer, default=1)  # raw samples averaged here


class StatDaily(Base):
    """What one student did with one notebook of one course on one (UTC) day, counted
    from notebook events; kept long after the events themselves are purged."""

    __tablename__ = "coursehub_stat_daily"
    __table_args__ = (
        UniqueConstraint("course", "day", "username", "path"),
        Index("ix_coursehub_stat_daily_course_day", "course", "day"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    course: Mapped[str] = mapped_column(String(40))
    day: Mapped[date] = mapped_column(Date)
    username: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1000))  # the notebook, relative to the course
    opens: Mapped[int] = mapped_column(Integer, default=0)
    saves: Mapped[int] = mapped_column(Integer, default=0)
    executions: Mapped[int] = mapped_column(Integer, default=0)


class StatCursor(Base):
    """How far a roll-up has read an append-only source (e.g. the last event id)."""

    __tablename__ = "coursehub_stat_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class KernelWatch(Base):
    """A kernel of a running course server as the monitor last saw it; `busy_since`
    is when it became busy without a break (runaway kernels on the staff page)."""

    __tablename__ = "coursehub_kernel_watch"
    __table_args__ = (UniqueConstraint("username", "course", "kernel_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    course: Mapped[str] = mapped_column(String(40), index=True)
    kernel_id: Mapped[str] = mapped_column(String(64))
    kernel_name: Mapped[str] = mapped_column(String(100), default="")
    execution_state: Mapped[str] = mapped_column(String(16), default="")
    busy_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DiskUsage(Base):
    """Bytes one student's workspace of one course takes (`course` "" for the whole
    home), as last measured by the monitor."""

    __tablename__ = "coursehub_disk_usage"
    __table_args__ = (UniqueConstraint("username", "course"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    course: Mapped[str] = mapped_column(String(40), default="")
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    files: Mapped[int] = mapped_column(Integer, default=0)
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WarmUp(Base):
    """Course servers started before a class (warmup/): planned from course.yaml's
    lectures, the staff page or `coursehub course warm`, then run by the service (or
    by the command, which waits). Unused servers it started are stopped at
    `unused_stop_at`; until then the idle culler leaves them alone."""

    __tablename__ = "coursehub_warmups"
    __table_args__ = (
        CheckConstraint(
            "state IN ('scheduled', 'running', 'done', 'cancelled', 'failed')", name="state"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course: Mapped[str] = mapped_column(
        String(40), ForeignKey("coursehub_courses.name", ondelete="CASCADE"), index=True
    )
    class_starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    begins_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    unused_stop_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(16))  # course.yaml | staff page | command
    requested_by: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(16), default="scheduled")
    runner: Mapped[str] = mapped_column(String(16), default="")  # service | command
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # when its unused servers were looked at (and stopped); NULL: not yet
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WarmServer(Base):
    """What a warm-up did for one student: started their course server, found it
    running, could not (failed, refused for memory, no account or hub user yet), and
    later whether it was used."""

    __tablename__ = "coursehub_warm_servers"

    warmup_id: Mapped[int] = mapped_column(
        ForeignKey("coursehub_warmups.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    course: Mapped[str] = mapped_column(String(40))
    # planned | warmed | running | failed | memory | no_account | not_signed_in
    outcome: Mapped[str] = mapped_column(String(16), default="planned")
    detail: Mapped[str] = mapped_column(String(300), default="")
    # the hub's `started` of the server this warm-up started
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    settled: Mapped[str] = mapped_column(String(16), default="")  # used | stopped | gone | kept
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
