"""Bounded in-process memory: the last `size` values used, each kept at most `ttl` seconds.

One piece for every short-lived memory of a process (conversation records, user profiles,
catalog views, shop settings, recent update ids), so each keeps its size bound and lifetime the
same way. Not shared between processes: what another instance changes is seen when a value's
lifetime runs out (see the users of this class for what each keeps and for how long).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")


class Memory(Generic[K, V]):
    """Least recently used values first out when full; `ttl=None` keeps values until pushed out."""

    def __init__(
        self, size: int, *, ttl: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.size = size
        self.ttl = ttl
        self._clock = clock
        self._values: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __contains__(self, key: K) -> bool:
        return self._fresh(key) is not None

    def get(self, key: K, default: D) -> V | D:
        """The value kept for `key`, or `default` when there is none or it is too old."""
        found = self._fresh(key)
        return default if found is None else found[1]

    def put(self, key: K, value: V) -> None:
        self._values[key] = (self._clock(), value)
        self._values.move_to_end(key)
        while len(self._values) > self.size:
            self._values.popitem(last=False)

    def pop(self, key: K) -> None:
        self._values.pop(key, None)

    def clear(self) -> None:
        self._values.clear()

    def _fresh(self, key: K) -> tuple[float, V] | None:
        found = self._values.get(key)
        if found is None:
            return None
        if self.ttl is not None and self._clock() - found[0] >= self.ttl:
            del self._values[key]
            return None
        self._values.move_to_end(key)
        return found
