"""How many requests go to the panel at once and how fast: learned from the panel's answers.

Why: most panels publish no limit, and those that do differ widely (one clone allows 100 requests
a minute per key, an admin API is quoted at 5 a second). A fixed
guess either queues a rush of customers for tens of seconds (too low) or meets 429s (too high).
So the limiter starts generous and adapts (AIMD, as TCP does):

* **Concurrency window** `limit`: starts at `initial_concurrency`; grows by about one per round
  trip while it is in use; shrinks ×0.7 on a 429, an HTTP 5xx or a timeout, and ×0.9 (down to
  half the start) when the smoothed round trip rises above `latency_tolerance` × the best recent
  one (the panel queues); at most one cut per round trip, so one burst of refusals counts once.
* **Rate**: `max_per_second` (the `PANEL_REQUESTS_PER_SECOND` setting) is a ceiling, not the pace.
  A 429 after a second or more of steady work means a rate limit: the rate drops to 0.9 × the most
  the panel accepted within one second lately, then grows back 2% a second while requests wait. A
  `Retry-After` (seconds, at most `max_pause`) holds every new request back that long.
* **Priorities**: waiting requests start by `Priority` first, arrival second, so a customer's order
  (`add`) never queues behind status polling or a catalog sync.

Nothing here retries: the client decides what may be sent again (`bot/panel/client.py`).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from types import TracebackType

__all__ = ["AdaptiveLimiter", "LimiterStats", "Priority", "QueueTimeout", "Slot"]

logger = logging.getLogger(__name__)

_DECREASE = 0.7  # concurrency after a refusal, an error or a timeout
_LATENCY_DECREASE = 0.9  # concurrency while the panel's answers slow down
_RATE_BACKOFF = 0.9  # the rate after a 429, of what the panel accepted in the last second
_RATE_GROWTH = 0.02  # per accepted request while requests wait: +2% of the rate per second
_MIN_RATE = 0.2  # never slower than one request every 5 s
_RATE_MEMORY = 5.0  # seconds of accepted requests a rate cut looks back on
_CATCH_UP = 0.05  # seconds of slots a late event loop may still use (keeps the rate on a busy loop)
_MIN_RTT_WINDOW = 30.0  # seconds the best round trip is remembered
_LATENCY_MARGIN = 0.1  # seconds the round trip must rise by, besides the factor, to count


class Priority(IntEnum):
    """Lower first: what a customer waits for goes ahead of background work."""

    ORDER = 0  # add: a customer pressed Confirm
    CUSTOMER = 1  # refill, cancel: a customer pressed a button
    BACKGROUND = 2  # status polling, catalog sync, balance checks


class QueueTimeout(Exception):
    """The request waited `max_wait` seconds without a free slot; it was never sent."""


@dataclass(frozen=True)
class LimiterStats:
    """A snapshot for logs and benchmarks."""

    limit: float
    rate: float  # requests per second allowed now (inf = no rate limit)
    in_flight: int
    waiting: int
    started: int
    throttled: int  # 429 answers
    errors: int  # 5xx answers and timeouts


class Slot:
    """One request's permission to be in flight; tell it how the panel answered."""

    def __init__(self, limiter: AdaptiveLimiter, started: float) -> None:
        self._limiter = limiter
        self.started = started
        self.http_status: int | None = None
        self.retry_after: float | None = None
        self.timed_out = False

    def answered(self, http_status: int, retry_after: str | None = None) -> None:
        """The panel answered with this HTTP status (and maybe a `Retry-After` header)."""
        self.http_status = http_status
        self.retry_after = _seconds(retry_after)

    def timeout(self) -> None:
        """No answer in time: the panel may be overloaded."""
        self.timed_out = True

    async def __aenter__(self) -> Slot:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._limiter._finish(self)


def _seconds(value: str | None) -> float | None:
    """A `Retry-After` in seconds; an HTTP date or garbage is ignored (untrusted input)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class AdaptiveLimiter:
    """Shared by every call of one panel client; see the module docstring for the rules."""

    def __init__(
        self,
        *,
        max_per_second: float = 0.0,
        initial_concurrency: int = 16,
        max_concurrency: int = 64,
        min_concurrency: int = 1,
        latency_tolerance: float = 2.0,
        max_pause: float = 5.0,
        max_wait: float = 120.0,
    ) -> None:
        self.ceiling = max_per_second if max_per_second > 0 else math.inf
        self.rate = self.ceiling
        self.min_concurrency = max(1, min_concurrency)
        self.max_concurrency = max(self.min_concurrency, max_concurrency)
        self.limit = float(min(max(initial_concurrency, self.min_concurrency), self.max_concurrency))
        self._latency_floor = max(float(self.min_concurrency), self.limit / 2)
        self.latency_tolerance = latency_tolerance
        self.max_pause = max_pause
        self.max_wait = max_wait
        self.in_flight = 0
        self._waiters: list[tuple[int, float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._next_start = -math.inf
        self._paused_until = -math.inf
        self._busy_since: float | None = None
        self._last_cut = -math.inf
        self._last_rate_cut = -math.inf
        self._srtt: float | None = None
        self._min_rtt = math.inf
        self._min_rtt_at = -math.inf
        self._recent: deque[Slot] = deque()  # slots started in the last few seconds
        self._started = 0
        self._throttled = 0
        self._errors = 0

    # -- taking a slot --------------------------------------------------------------------------

    async def slot(self, priority: Priority = Priority.BACKGROUND, *, since: float | None = None) -> Slot:
        """Wait for a slot; `since` (a loop time) keeps a re-sent request's place in the queue.

        Raises QueueTimeout after `max_wait` seconds of waiting (nothing was sent).
        """
        loop = asyncio.get_running_loop()
        arrived = loop.time() if since is None else since
        if self._busy_since is None:
            self._busy_since = loop.time()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiters, (int(priority), arrived, next(self._order), future))
        self._pump()
        try:
            async with asyncio.timeout(self.max_wait):
                await future
        except BaseException as error:
            if future.done() and not future.cancelled():
                self._release()  # granted, then cancelled before it could be used
            else:
                future.cancel()
                self._pump()
            if isinstance(error, TimeoutError):
                raise QueueTimeout(f"no free slot towards the panel in {self.max_wait:g}s") from None
            raise
        slot = Slot(self, loop.time())
        self._recent.append(slot)
        while self._recent and self._recent[0].started < slot.started - _RATE_MEMORY:
            self._recent.popleft()  # keep only what a rate cut reads
        return slot

    def _pump(self) -> None:
        """Start as many waiters as the window, the rate and a pause allow; wake up later if needed."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._waiters:
            future = self._waiters[0][3]
            if future.done():  # cancelled or timed out while waiting
                heapq.heappop(self._waiters)
                continue
            if self.in_flight >= max(1, int(self.limit)):
                return  # the next finished request pumps again
            start = max(self._paused_until, self._next_start)
            if start > now:
                self._timer = loop.call_at(start, self._pump)
                return
            heapq.heappop(self._waiters)
            self.in_flight += 1
            self._started += 1
            if self.rate < math.inf:
                # Spaced from the plan, not from this (possibly late) turn of the loop; after a
                # quiet spell from now (no burst of slots saved up while idle).
                planned = self._next_start if self._next_start >= now - _CATCH_UP else now
                self._next_start = planned + 1.0 / self.rate
            future.set_result(None)
        if self.in_flight == 0:
            self._busy_since = None

    def _release(self) -> None:
        self.in_flight -= 1
        self._pump()

    # -- learning from the answer ---------------------------------------------------------------

    def _finish(self, slot: Slot) -> None:
        now = asyncio.get_running_loop().time()
        rtt = now - slot.started
        status = slot.http_status
        if status == 429:
            self._throttled += 1
            self._on_throttled(now, slot.retry_after)
        elif slot.timed_out or (status is not None and status >= 500):
            self._errors += 1
            self._cut(now, _DECREASE)
        elif status is not None:
            self._on_success(now, rtt)
        self._release()

    def _cut(self, now: float, factor: float, floor: float | None = None) -> None:
        """Shrink the window, once per round trip."""
        if now - self._last_cut < (self._srtt or 0.05):
            return
        self._last_cut = now
        lowest = float(self.min_concurrency) if floor is None else floor
        self.limit = max(self.limit * factor, min(self.limit, lowest))  # never raised by a cut

    def _on_throttled(self, now: float, retry_after: float | None) -> None:
        self._cut(now, _DECREASE)
        busy_for = now - self._busy_since if self._busy_since is not None else 0.0
        if busy_for >= 1.0 and now - self._last_rate_cut >= 1.0:
            # A second of steady work, then a refusal: the panel limits the rate. Go a bit
            # below what it accepted during the last second.
            self._last_rate_cut = now
            accepted = self._busiest_second(now)
            self.rate = max(_MIN_RATE, min(self.rate, float(accepted)) * _RATE_BACKOFF)
            logger.info(
                "panel answered 429: pacing requests at %.2f/s (it accepted %d in a second)",
                self.rate,
                accepted,
            )
            self._next_start = max(self._next_start, now + 1.0 / self.rate)
        if retry_after:
            self._paused_until = max(self._paused_until, now + min(retry_after, self.max_pause))

    def _on_success(self, now: float, rtt: float) -> None:
        self._srtt = rtt if self._srtt is None else 0.8 * self._srtt + 0.2 * rtt
        if rtt <= self._min_rtt or now - self._min_rtt_at > _MIN_RTT_WINDOW:
            self._min_rtt, self._min_rtt_at = rtt, now
        if self._srtt > self._min_rtt * self.latency_tolerance + _LATENCY_MARGIN:
            # The panel is queueing our requests, or our own event loop is busy (a round trip
            # includes the wait for this process's turn): a soft signal, it never halves the
            # starting window; 429s, errors and timeouts go down to `min_concurrency`.
            self._cut(now, _LATENCY_DECREASE, floor=self._latency_floor)
            return
        waiting = any(not entry[3].done() for entry in self._waiters)
        if waiting or self.in_flight >= int(self.limit):
            self.limit = min(float(self.max_concurrency), self.limit + 1.0 / self.limit)
        if waiting and self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + _RATE_GROWTH)

    def _busiest_second(self, now: float) -> int:
        """Most requests the panel took within one second (by start), over the last few seconds.

        Requests still in flight count as taken: a 429 comes back at once, an accepted request
        only after the panel's work, so counting answers alone would see almost nothing. Not
        just the last second either: a Retry-After pause may have left it nearly empty.
        """
        times = [
            slot.started
            for slot in self._recent
            if slot.http_status != 429 and slot.started >= now - _RATE_MEMORY
        ]
        busiest, first = 0, 0
        for last, moment in enumerate(times):
            while moment - times[first] >= 1.0:
                first += 1
            busiest = max(busiest, last - first + 1)
        return busiest

    # -- reading --------------------------------------------------------------------------------

    def pause_left(self) -> float:
        """Seconds until a `Retry-After` pause ends (0 when none)."""
        return max(0.0, self._paused_until - asyncio.get_running_loop().time())

    def stats(self) -> LimiterStats:
        return LimiterStats(
            limit=self.limit,
            rate=self.rate,
            in_flight=self.in_flight,
            waiting=sum(1 for entry in self._waiters if not entry[3].done()),
            started=self._started,
            throttled=self._throttled,
            errors=self._errors,
        )
