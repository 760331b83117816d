"""The load table that lets a busy worker hand keep-alive connections to an idle sibling."""

from __future__ import annotations

import multiprocessing

from origin.balance import LoadBoard


def _publish_from_child(board: LoadBoard, slot: int, load: int) -> None:
    board.attach(slot)
    board.publish(load)


def test_a_forked_worker_publishes_into_memory_its_siblings_read() -> None:
    board = LoadBoard(slots=4)
    for slot in (0, 1, 2):
        board.open(slot)  # the master, before each fork
    ctx = multiprocessing.get_context("fork")
    for slot, load in ((1, 5), (2, 3)):
        child = ctx.Process(target=_publish_from_child, args=(board, slot, load))
        child.start()
        child.join(10)
        assert child.exitcode == 0
    board.attach(0)
    board.publish(7)
    assert board.least_other() == 3
    assert board.should_hand_over(7, gap=2)  # 7 - 3 >= 2
    assert board.should_hand_over(5, gap=2)
    assert not board.should_hand_over(4, gap=2)  # 4 - 3 < 2: a near-even split stays put
    assert not board.should_hand_over(7, gap=0)  # 0 switches it off


def test_slots_without_a_live_worker_are_ignored() -> None:
    board = LoadBoard(slots=4)
    board.open(0)
    board.open(1)
    board.attach(0)
    assert board.least_other() == 0  # slot 1 forked and has admitted nothing yet
    board.close(1)  # its worker exited and no replacement forked yet
    assert board.least_other() is None
    assert not board.should_hand_over(10, gap=2)  # nobody to hand over to


def test_outside_a_gunicorn_worker_nothing_is_published_or_closed() -> None:
    board = LoadBoard(slots=2)
    board.open(0)
    board.open(1)
    board.publish(9)  # no slot attached: a plain uvicorn or in-process app
    assert board.least_other() is None
    assert not board.should_hand_over(9, gap=2)


def test_a_retiring_worker_withdraws_from_the_table() -> None:
    board = LoadBoard(slots=2)
    board.open(0)
    board.open(1)
    board.attach(1)
    board.publish(0)
    board.withdraw()  # slot 1 retires: its connections would wait for a replacement
    board.publish(3)  # what it still finishes is no longer published
    board.attach(0)
    assert board.least_other() is None
    assert not board.should_hand_over(5, gap=2)
