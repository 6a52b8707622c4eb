"""Per-model container fleets: cold, warming and warm containers, keep-alive and eviction.

All state is plain attributes; the only simpy events are the keep-alive timers, scheduled with
callbacks (a ``Process`` per request would cost ~2.5x, see engineering-notes.md B3).
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

from emulator.engine.latency import LatencyModel


@dataclass(eq=False)
class Container:
    number: int
    ready_at: float  # engine time the container is warm
    active: int = 0
    last_used: float = 0.0
    idle_since_token: int = 0  # bumps to cancel stale eviction timers
    evicted: bool = False
    listed: bool = True  # in the fleet's heap of containers with a free slot


@dataclass(frozen=True)
class Slot:
    """Where and when a request runs."""

    container: Container
    start_at: float  # engine time service starts (after any cold start or queueing)
    cold_start_s: float  # part of the wait spent on a container warming up
    concurrent: int  # requests on the container, this one included


Granted = Callable[[Slot], None]


@dataclass(eq=False)
class ModelFleet:
    env: simpy.Environment
    latency: LatencyModel
    rng: random.Random
    keep_alive_s: float
    concurrency: int
    max_containers: int
    containers: list[Container] = field(default_factory=list)
    queue: deque[Granted] = field(default_factory=deque)
    started: int = 0  # containers ever started
    evicted: int = 0
    # Containers with a free slot, oldest first (lazy: entries are checked when popped).
    _open: list[tuple[int, Container]] = field(default_factory=list)

    def acquire(self, granted: Granted) -> None:
        """Give the request a slot now, or queue it until one frees up."""
        now = self.env.now
        container = self._free_container()
        if container is None and len(self.containers) < self.max_containers:
            self.started += 1
            container = Container(self.started, ready_at=now + self.latency.cold_start(self.rng))
            self.containers.append(container)
            heapq.heappush(self._open, (container.number, container))
        if container is None:
            self.queue.append(granted)
            return
        granted(self._occupy(container, now))

    def release(self, container: Container) -> None:
        now = self.env.now
        if not container.listed:
            container.listed = True
            heapq.heappush(self._open, (container.number, container))
        container.active -= 1
        container.last_used = now
        if self.queue:
            granted = self.queue.popleft()
            granted(self._occupy(container, now))
        elif container.active == 0:
            container.idle_since_token += 1
            token = container.idle_since_token
            timer = self.env.timeout(self.keep_alive_s)
            timer.callbacks.append(lambda _ev: self._maybe_evict(container, token))

    def _free_container(self) -> Container | None:
        # Pack requests onto the oldest containers so the extra ones can idle out.
        heap = self._open
        while heap:
            c = heap[0][1]
            if c.active < self.concurrency and not c.evicted:
                return c
            heapq.heappop(heap)
            c.listed = False
        return None

    def _occupy(self, container: Container, now: float) -> Slot:
        container.active += 1
        container.idle_since_token += 1
        start = max(now, container.ready_at)
        return Slot(container, start, start - now, container.active)

    def _maybe_evict(self, container: Container, token: int) -> None:
        if container.idle_since_token == token and container.active == 0:
            container.evicted = True
            self.containers.remove(container)
            self.evicted += 1
