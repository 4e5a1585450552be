"""Sign-in tickets work once, only while fresh, and are never stored in clear."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from coursehub.accounts.signin_tickets import SignInTickets, new_binding
from coursehub.db.models import SignInTicket
from coursehub.db.session import Database


@pytest.fixture
def tickets(db: Database) -> SignInTickets:
    return SignInTickets(db)


BINDING = new_binding()


def test_a_ticket_signs_in_once(tickets: SignInTickets) -> None:
    ticket = tickets.issue("alice", "/services/coursehub/course/demo", BINDING)
    first = tickets.redeem(ticket, BINDING)
    assert first is not None
    assert (first.username, first.next_url) == ("alice", "/services/coursehub/course/demo")
    assert tickets.redeem(ticket, BINDING) is None


def test_a_ticket_from_another_browser_signs_nobody_in_and_is_burnt(
    tickets: SignInTickets,
) -> None:
    ticket = tickets.issue("alice", "/", BINDING)
    assert tickets.redeem(ticket, new_binding()) is None
    assert tickets.redeem(ticket, "") is None
    assert tickets.redeem(ticket, BINDING) is None


def test_expired_unknown_and_oversized_tickets_are_refused(tickets: SignInTickets) -> None:
    assert tickets.redeem(tickets.issue("alice", "/", BINDING, ttl_seconds=-1), BINDING) is None
    assert tickets.redeem("not-a-ticket", BINDING) is None
    assert tickets.redeem("", BINDING) is None
    assert tickets.redeem("x" * 5000, BINDING) is None


def test_only_the_hash_is_stored(tickets: SignInTickets) -> None:
    ticket = tickets.issue("alice", "/", BINDING)
    with tickets.db.session() as s:
        stored = s.scalars(select(SignInTicket.ticket_hash)).all()
    assert stored and ticket not in stored


def test_racing_redeems_let_exactly_one_through(tickets: SignInTickets) -> None:
    ticket = tickets.issue("alice", "/", BINDING)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: tickets.redeem(ticket, BINDING), range(8)))
    assert sum(r is not None for r in results) == 1
