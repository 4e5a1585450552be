"""Who a warm-up starts a server for, and who it cannot: a pure decision.

Only the course's enrolled students are considered (staff start their own servers).
Of those:
- no account yet (enrolled by name: a GitHub login or an LMS user who has not signed
  in): they become a person coursehub knows at their first sign-in, so nothing can
  be started for them;
- not signed in yet (an account, but the hub has never seen them): the hub learns a
  user at their first sign-in; an admin's `coursehub course warm` tells the hub about
  them first, the service cannot (it holds no admin right in the hub);
- a server for the course already running or starting: left as it is;
- the rest are warmed, as many as memory allows. When not all fit, the students who
  opened the course's notebooks most recently come first (they are the likeliest to
  come to class), then those who never did, by name; the others are left out and
  named. So who is left out does not change from one run to the next unless the
  students' own activity does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Plan:
    warm: list[str] = field(default_factory=list)  # in the order they are started
    memory: list[str] = field(default_factory=list)  # left out: beyond the memory bound
    running: list[str] = field(default_factory=list)  # their server already runs
    no_account: list[str] = field(default_factory=list)
    not_signed_in: list[str] = field(default_factory=list)
    create: list[str] = field(default_factory=list)  # of `warm`: the hub learns them first

    @property
    def students(self) -> int:
        return sum(
            len(part)
            for part in (self.warm, self.memory, self.running, self.no_account, self.not_signed_in)
        )


def warm_order(names: Iterable[str], last_opened: Mapping[str, datetime]) -> list[str]:
    """Most recently active in the course first, then the never active, by name."""
    seen = [n for n in names if n in last_opened]
    never = sorted(n for n in names if n not in last_opened)
    seen.sort(key=lambda n: (-last_opened[n].timestamp(), n))
    return seen + never


def make_plan(
    students: Iterable[str],
    accounts: Collection[str],
    hub_users: Collection[str],
    running: Collection[str],
    last_opened: Mapping[str, datetime],
    fits: int | None,
    create_users: bool = False,
) -> Plan:
    """`students`: enrolled students; `accounts`: of them, those with a coursehub
    account; `hub_users`: those the hub knows; `running`: those whose server for the
    course runs or starts; `fits`: how many more servers memory allows (None: no
    bound); `create_users`: the caller may tell the hub about accounts it does not
    know yet (an admin)."""
    names = sorted(set(students))
    no_account = [n for n in names if n not in accounts]
    known = [n for n in names if n in accounts]
    not_signed_in = [] if create_users else [n for n in known if n not in hub_users]
    already = [n for n in known if n in hub_users and n in running]
    candidates = [n for n in known if n not in already and n not in not_signed_in]
    ordered = warm_order(candidates, last_opened)
    limit = len(ordered) if fits is None else max(0, fits)
    warm, memory = ordered[:limit], ordered[limit:]
    return Plan(
        warm=warm,
        memory=memory,
        running=already,
        no_account=no_account,
        not_signed_in=not_signed_in,
        create=[n for n in warm if n not in hub_users],
    )
