"""Latest-wins scheduling and dynamic batching, with real threads."""

from __future__ import annotations

import threading

from facecast.server.scheduler import LatestWinsScheduler


def test_latest_wins_replaces_pending_pose():
    s = LatestWinsScheduler(max_batch=4, max_wait_ms=0)
    assert s.submit("a", 1) is None
    assert s.submit("a", 2) == 1  # superseded
    assert s.submit("a", 3) == 2
    batch = s.next_batch(timeout_s=1)
    assert [(j.key, j.item) for j in batch] == [("a", 3)]


def test_one_in_flight_per_session_and_pending_waits_for_done():
    s = LatestWinsScheduler(max_batch=4, max_wait_ms=0)
    s.submit("a", 1)
    assert [j.item for j in s.next_batch(1)] == [1]
    s.submit("a", 2)  # arrives while 1 renders
    assert s.next_batch(timeout_s=0.05) == []  # not before 1 is done
    s.submit("a", 3)  # replaces 2
    s.done("a")
    assert [j.item for j in s.next_batch(1)] == [3]


def test_batches_across_sessions_up_to_max_batch_fifo():
    s = LatestWinsScheduler(max_batch=3, max_wait_ms=0)
    for key in "abcde":
        s.submit(key, key.upper())
    first = s.next_batch(1)
    assert [j.key for j in first] == ["a", "b", "c"]
    second = s.next_batch(1)
    assert [j.key for j in second] == ["d", "e"]


def test_waits_for_active_sessions_to_fill_a_batch():
    s = LatestWinsScheduler(max_batch=2, max_wait_ms=5000)
    s.submit("a", 1)
    s.submit("b", 1)
    for j in s.next_batch(1):  # both active now
        s.done(j.key)
    s.submit("a", 2)
    got: list = []
    t = threading.Thread(target=lambda: got.extend(s.next_batch(timeout_s=10)))
    t.start()
    t.join(0.2)
    assert t.is_alive(), "should wait for b, which is active"
    s.submit("b", 2)
    t.join(5)
    assert sorted(j.key for j in got) == ["a", "b"]


def test_idle_and_forgotten_sessions_do_not_delay_a_lone_stream():
    s = LatestWinsScheduler(max_batch=8, max_wait_ms=5000, active_window_s=0.05)
    s.submit("idle", 0)
    s.next_batch(1)
    s.done("idle")
    s.submit("gone", 0)
    s.forget("gone")
    threading.Event().wait(0.1)  # "idle" leaves the active window
    s.submit("a", 1)
    done = threading.Event()
    got: list = []

    def take():
        got.extend(s.next_batch(timeout_s=10))
        done.set()

    threading.Thread(target=take).start()
    assert done.wait(2.0), "a lone active stream must not wait max_wait_ms"
    assert [j.key for j in got] == ["a"]


def test_close_wakes_the_render_thread():
    s = LatestWinsScheduler(max_batch=2, max_wait_ms=0)
    got = []
    t = threading.Thread(target=lambda: got.append(s.next_batch(timeout_s=30)))
    t.start()
    s.close()
    t.join(2)
    assert not t.is_alive() and got == [[]]


def test_claim_only_when_nothing_is_queued_and_the_session_is_idle():
    s = LatestWinsScheduler(max_batch=4, max_wait_ms=0)
    assert s.claim("a")  # nothing queued: the I/O thread may render a's pose itself
    assert not s.claim("a")  # a's frame is in flight: the next must queue behind it
    s.submit("b", 1)
    assert not s.claim("c")  # b is queued: c would overtake it
    s.done("a")
    assert [j.item for j in s.next_batch(1)] == [1]
    s.close()
    assert not s.claim("d")


def test_retry_requeues_first_in_line_unless_superseded_or_forgotten():
    s = LatestWinsScheduler(max_batch=1, max_wait_ms=0)
    s.submit("a", "a1")
    s.submit("b", "b1")
    assert [j.item for j in s.next_batch(1)] == ["a1"]  # in flight; its worker is then lost
    assert s.retry("a", "a1")
    assert [j.item for j in s.next_batch(1)] == ["a1"]  # re-routed ahead of b
    s.submit("a", "a2")  # a newer pose arrives while a1 renders again
    assert not s.retry("a", "a1")  # ... so a1 is dropped: latest wins
    assert [j.item for j in s.next_batch(1)] == ["b1"]
    assert [j.item for j in s.next_batch(1)] == ["a2"]
    s.forget("a")
    assert not s.retry("a", "a2")  # the session is gone
    assert s.next_batch(timeout_s=0.05) == []
