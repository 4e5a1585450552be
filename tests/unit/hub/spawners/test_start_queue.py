"""The start queue lets a burst of starts wait their turn instead of failing."""

from __future__ import annotations

import asyncio

import pytest

from coursehub.hub.spawners.start_queue import StartQueue, Ticket


async def test_at_most_slots_run_and_the_rest_wait_in_order() -> None:
    queue = StartQueue(2)
    running, peak, order = 0, 0, []
    gate = asyncio.Event()

    async def start(name: str) -> None:
        nonlocal running, peak
        async with queue.slot(Ticket(name)):
            running += 1
            peak = max(peak, running)
            order.append(name)
            await gate.wait()
            running -= 1

    tasks = [asyncio.create_task(start(f"s{i}")) for i in range(6)]
    await asyncio.sleep(0.01)
    assert running == 2 and queue.waiting == 4
    gate.set()
    await asyncio.gather(*tasks)
    assert peak == 2
    assert order == [f"s{i}" for i in range(6)]  # first come, first served
    assert queue.active == 0 and queue.waiting == 0


async def test_position_is_reported_for_waiting_starts() -> None:
    queue = StartQueue(1)
    gate = asyncio.Event()
    tickets = [Ticket(f"s{i}") for i in range(3)]

    async def start(ticket: Ticket) -> None:
        async with queue.slot(ticket):
            await gate.wait()

    tasks = [asyncio.create_task(start(t)) for t in tickets]
    await asyncio.sleep(0.01)
    assert [queue.position(t) for t in tickets] == [None, 1, 2]
    gate.set()
    await asyncio.gather(*tasks)


async def test_a_cancelled_waiter_leaves_the_queue_and_frees_nothing_twice() -> None:
    queue = StartQueue(1)
    gate = asyncio.Event()

    async def start(name: str) -> str:
        async with queue.slot(Ticket(name)):
            await gate.wait()
        return name

    first = asyncio.create_task(start("first"))
    second = asyncio.create_task(start("second"))
    third = asyncio.create_task(start("third"))
    await asyncio.sleep(0.01)
    second.cancel()
    await asyncio.sleep(0.01)
    assert queue.waiting == 1
    gate.set()
    assert await first == "first" and await third == "third"
    with pytest.raises(asyncio.CancelledError):
        await second
    assert queue.active == 0


async def test_a_failing_start_releases_its_slot() -> None:
    queue = StartQueue(1)

    async def boom() -> None:
        async with queue.slot(Ticket("x")):
            raise RuntimeError("spawn failed")

    with pytest.raises(RuntimeError):
        await boom()
    async with queue.slot(Ticket("y")):
        assert queue.active == 1
    assert queue.active == 0


def test_zero_slots_is_refused() -> None:
    with pytest.raises(ValueError):
        StartQueue(0)
