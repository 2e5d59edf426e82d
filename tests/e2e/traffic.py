"""Telegram's side under load: updates at a steady rate through the Ingress, each one POSTed until
it is answered 200, as Telegram redelivers an update it got no 2xx for. What came back is
counted, so each fault scenario can say how the gateway answered while the fault lasted, and
then whether every update it accepted reached the backend (lost, duplicated, how soon)."""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.harness import KindEnvironment
from tests.support.cluster import wait_until
from tests.support.updates import UPDATES

# How long one update is redelivered before the sender gives up on it (Telegram: ~24 h).
GIVE_UP_SECONDS = 240.0
# The wait before a redelivery when the answer named none.
DEFAULT_RETRY_SECONDS = 1.0


def shaped(update_id: int, kind: str = "text_message") -> dict[str, Any]:
    """A real-shaped update (tests/support/updates.py) under a fresh update_id."""
    update = copy.deepcopy(UPDATES[kind])
    update["update_id"] = update_id
    return update


@dataclass
class Answers:
    """Every answer the sender got, by kind."""

    posts: int = 0
    ok: int = 0
    unavailable_with_retry_after: int = 0
    unavailable_without_retry_after: int = 0
    other: Counter[int] = field(default_factory=Counter)
    no_answer: int = 0
    examples: list[str] = field(default_factory=list)
    # time.monotonic() of the last answer that was not 200.
    last_non_ok_at: float | None = None

    @property
    def non_ok(self) -> int:
        return self.posts - self.ok

    def record(self, status: int, body: str, headers: dict[str, str]) -> None:
        self.posts += 1
        if status == 200:
            self.ok += 1
            return
        self.last_non_ok_at = time.monotonic()
        if status == 503 and "Retry-After" in headers:
            self.unavailable_with_retry_after += 1
        elif status == 503:
            self.unavailable_without_retry_after += 1
        elif status == 0:
            self.no_answer += 1
        else:
            self.other[status] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{status}: {body[:160]!r}")


class SteadySender:
    """Sends `rate` updates a second for `slug` from `first_id` on, until `stop()`."""

    def __init__(
        self,
        env: KindEnvironment,
        slug: str,
        secret: str,
        *,
        first_id: int,
        rate: float = 10.0,
        workers: int = 16,
    ) -> None:
        self.env = env
        self.slug = slug
        self.secret = secret
        self.first_id = first_id
        self.rate = rate
        self.answers = Answers()
        self.accepted: set[int] = set()
        self.abandoned: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="telegram")
        self._ticker = threading.Thread(target=self._tick, name="telegram-ticker", daemon=True)
        self.sent = 0

    def __enter__(self) -> SteadySender:
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending new updates; wait until each one sent is accepted or given up."""
        self._stop.set()
        if self._ticker.is_alive():
            self._ticker.join()
        self._pool.shutdown(wait=True)

    def _tick(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            update_id = self.first_id + self.sent
            self.sent += 1
            self._pool.submit(self._deliver, update_id)
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _deliver(self, update_id: int) -> None:
        update = shaped(update_id)
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while True:
            status, body, headers = self.env.post_update(
                self.slug, update, secret=self.secret, timeout=10
            )
            with self._lock:
                self.answers.record(status, body, headers)
                if status == 200:
                    self.accepted.add(update_id)
                    return
            if time.monotonic() >= deadline:
                with self._lock:
                    self.abandoned.add(update_id)
                return
            time.sleep(_retry_after(headers))

    @property
    def ids(self) -> set[int]:
        return {self.first_id + i for i in range(self.sent)}


def _retry_after(headers: dict[str, str]) -> float:
    try:
        return min(max(float(headers.get("Retry-After", "")), 0.2), 10.0)
    except ValueError:
        return DEFAULT_RETRY_SECONDS


@dataclass
class Delivery:
    """How the accepted updates reached the backend."""

    delivered: int
    lost: int
    duplicates: int
    seconds_to_deliver: float


def await_delivery(
    env: KindEnvironment,
    slug: str,
    accepted: set[int],
    *,
    timeout: float = 300,
    clock_start: float | None = None,
) -> Delivery:
    """Wait until the backend has received every accepted update (or the timeout passes)."""
    start = time.monotonic() if clock_start is None else clock_start
    deadline = time.monotonic() + timeout
    while True:
        try:
            counts = Counter(
                a["update_id"]
                for a in env.arrivals()
                if a["bot"] == slug and a["update_id"] in accepted
            )
        except Exception:  # the API server or the backend restarting: not yet
            counts = Counter()
        missing = accepted - set(counts)
        if not missing or time.monotonic() >= deadline:
            return Delivery(
                delivered=len(counts),
                lost=len(missing),
                duplicates=sum(n - 1 for n in counts.values()),
                seconds_to_deliver=time.monotonic() - start,
            )
        time.sleep(1)


def under_load(
    env: KindEnvironment,
    say: Callable[[str], None],
    scenario: str,
    *,
    slug: str,
    secret: str,
    first_id: int,
    fault: Callable[[SteadySender], dict[str, str]],
) -> tuple[SteadySender, Delivery]:
    """Stream updates; once they flow, bring on the fault (which waits for the system to
    recover and returns its own figures); once they flow again, stop, wait for every accepted
    update to reach the backend, and print the scenario's figures."""
    with SteadySender(env, slug, secret, first_id=first_id) as sender:
        flowing(sender)
        figures = fault(sender)
        flowing(sender)
    delivery = await_delivery(env, slug, sender.accepted)
    report(say, scenario, sender, delivery, **figures)
    return sender, delivery


def flowing(sender: SteadySender, more: int = 20) -> None:
    """Wait until `more` further updates are accepted: traffic is flowing now."""
    target = len(sender.accepted) + more
    wait_until(
        lambda: len(sender.accepted) >= target,
        timeout=300,
        interval=0.5,
        message=lambda: f"{more} more updates accepted ({sender.answers})",
    )


def assert_nothing_lost(sender: SteadySender, delivery: Delivery) -> None:
    """Every update the gateway accepted was delivered, and none was refused for good."""
    assert delivery.lost == 0, f"{delivery.lost} accepted updates never delivered"
    assert not sender.abandoned, f"{len(sender.abandoned)} updates never accepted"
    unsettled = sender.ids - sender.accepted - sender.abandoned
    assert not unsettled, f"{len(unsettled)} updates neither accepted nor given up"


def report(
    say: Callable[[str], None],
    scenario: str,
    sender: SteadySender,
    delivery: Delivery,
    **extra: Any,
) -> None:
    """One block of figures per scenario, in the test output."""
    answers = sender.answers
    other = ", ".join(f"{status}x{n}" for status, n in sorted(answers.other.items())) or "none"
    lines = [
        f"{scenario}:",
        f"  updates sent {sender.sent} ({answers.posts} POSTs with redeliveries), "
        f"accepted {len(sender.accepted)}, given up {len(sender.abandoned)}",
        f"  answers: 200 x{answers.ok}, 503+Retry-After x{answers.unavailable_with_retry_after}, "
        f"503 without x{answers.unavailable_without_retry_after}, no answer x{answers.no_answer}, "
        f"other {other}",
        f"  delivered {delivery.delivered}, lost {delivery.lost}, extra deliveries "
        f"{delivery.duplicates}, all delivered {delivery.seconds_to_deliver:.0f}s after the start",
    ]
    lines += [f"  {key.replace('_', ' ')}: {value}" for key, value in extra.items()]
    if answers.examples:
        lines.append(f"  first non-200 answers: {'; '.join(answers.examples)}")
    for line in lines:
        say(line)
