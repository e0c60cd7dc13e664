"""Signals held until the work they announce is committed, dropped when it is rolled back."""

from blinker import Signal

from app.core import events


def test_signals_are_sent_at_once_outside_a_deferred_block():
    signal, seen = Signal(), []
    signal.connect(lambda _sender, **kw: seen.append(kw), weak=False)
    events.send(signal, n=1)
    assert seen == [{"n": 1}]


def test_deferred_signals_wait_for_release_and_rolled_back_ones_are_dropped():
    signal, seen = Signal(), []
    signal.connect(lambda _sender, **kw: seen.append(kw["n"]), weak=False)
    with events.deferred() as queue:
        events.send(signal, n=1)
        mark = events.checkpoint()
        events.send(signal, n=2)  # this mutation's savepoint is rolled back
        events.discard_since(mark)
        events.send(signal, n=3)
        assert seen == []
    events.release(queue)
    assert seen == [1, 3]
    events.send(signal, n=4)
    assert seen == [1, 3, 4]
