"""Telegram's limits, driven by a fake clock."""

import pytest

from botgateway.telegram.ratelimit import SendLater, SendLimiter, SendNow

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_message_per_second_per_chat() -> None:
    clock = Clock()
    limiter = SendLimiter(clock=clock)
    assert limiter.acquire(42) == SendNow(0.0)
    assert limiter.acquire(42) == SendNow(1.0)  # the next slot, booked: wait inline
    assert limiter.acquire(42) == SendLater(2.0)  # too far: reschedule, nothing booked
    assert limiter.acquire(42) == SendLater(2.0)
    assert limiter.acquire(7) == SendNow(0.0)  # other chats are not held up
    clock.now += 2.0
    assert limiter.acquire(42) == SendNow(0.0)


def test_twenty_per_minute_per_group() -> None:
    clock = Clock()
    limiter = SendLimiter(clock=clock, max_inline_wait=0.0)
    sent = 0
    for _ in range(60):  # one attempt a second for a minute
        if isinstance(limiter.acquire(-100123), SendNow):
            sent += 1
        clock.now += 1.0
    assert 20 <= sent <= 21


def test_thirty_per_second_per_bot() -> None:
    clock = Clock()
    limiter = SendLimiter(clock=clock, max_inline_wait=0.0)
    decisions = [limiter.acquire(chat) for chat in range(100)]
    assert sum(isinstance(d, SendNow) for d in decisions) == 30
    clock.now += 1.0
    assert sum(isinstance(limiter.acquire(c), SendNow) for c in range(100, 200)) == 30


def test_retry_after_holds_the_chat_back() -> None:
    clock = Clock()
    limiter = SendLimiter(clock=clock)
    limiter.penalize(42, 5)
    later = limiter.acquire(42)
    assert isinstance(later, SendLater)
    assert later.delay == pytest.approx(5.0)
    assert limiter.acquire(43) == SendNow(0.0)
    clock.now += 5.0
    assert limiter.acquire(42) == SendNow(0.0)


def test_calls_without_a_chat_count_only_against_the_bot() -> None:
    limiter = SendLimiter(clock=Clock())
    assert all(isinstance(limiter.acquire(None), SendNow) for _ in range(30))
