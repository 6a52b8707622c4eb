"""Clocks: the only source of time the engine knows.

Both clocks own one ``simpy.Environment`` whose ``now`` is seconds since the clock started.

* ``VirtualClock`` moves only when someone runs the environment, so a simulated hour of traffic
  takes as long as its events take to process. It can also stand in for the time functions of
  client code (``time()``, ``monotonic()``, ``sleep()``): botocore's retry sleeps then advance the
  simulation instead of blocking (``patch_botocore``).
* ``WallClock`` keeps the environment in step with real time (times ``speed``). It never blocks
  inside simpy: whoever needs the simulation up to date calls ``catch_up()``, and a waiter sleeps
  only until the next due event, so a new request can always get in (simpy's own
  ``RealtimeEnvironment`` cannot be woken that way).
"""

from __future__ import annotations

import abc
import contextlib
import threading
import time as _time
import types
from collections.abc import Callable, Iterator

import simpy

# 2026-01-01T00:00:00Z: a fixed epoch makes virtual runs (and their ledgers) repeat exactly.
VIRTUAL_EPOCH = 1767225600.0


class Clock(abc.ABC):
    def __init__(self, epoch: float) -> None:
        self.env = simpy.Environment()
        self.epoch = epoch
        # One lock around every touch of the environment: simpy itself is not thread-safe.
        self.lock = threading.RLock()

    @property
    def now(self) -> float:
        """Engine time, seconds since the clock started."""
        return self.env.now

    def time(self) -> float:
        """Unix time as the simulation sees it."""
        return self.epoch + self.env.now

    def run_until(self, when: float) -> None:
        """Process every event due up to ``when`` and leave the environment at ``when``."""
        with self.lock:
            env = self.env
            while env.peek() <= when:
                env.step()
            if when > env.now:
                # Nothing is due before `when`: move the clock directly. `env.run(until=...)`
                # would do the same through a stop event, at several times the cost.
                env._now = when

    def sync(self) -> None:
        """Bring the environment up to the present before a new arrival (wall clocks only)."""
        return None

    @abc.abstractmethod
    def settle(self, done: Callable[[], bool]) -> None:
        """Process events until ``done()`` (or nothing is left to process)."""

    @abc.abstractmethod
    def wait_until(self, when: float) -> None:
        """Block the calling thread until engine time ``when`` has been reached."""


class VirtualClock(Clock):
    """Simulated time that jumps from event to event (trio's autojump, for simpy)."""

    def __init__(self, epoch: float = VIRTUAL_EPOCH) -> None:
        super().__init__(epoch)

    def settle(self, done: Callable[[], bool]) -> None:
        with self.lock:
            env = self.env
            while not done() and env.peek() != float("inf"):
                env.step()

    def wait_until(self, when: float) -> None:
        self.run_until(when)

    # -- stand-ins for client code's time functions ------------------------------------------
    def monotonic(self) -> float:
        return self.env.now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.run_until(self.env.now + seconds)

    def time_module(self) -> types.SimpleNamespace:
        """A ``time``-module stand-in: ``time``, ``monotonic``, ``perf_counter``, ``sleep``."""
        return types.SimpleNamespace(
            time=self.time,
            monotonic=self.monotonic,
            perf_counter=self.monotonic,
            sleep=self.sleep,
            time_ns=lambda: int(self.time() * 1e9),
            monotonic_ns=lambda: int(self.monotonic() * 1e9),
            perf_counter_ns=lambda: int(self.monotonic() * 1e9),
            gmtime=_time.gmtime,
            strftime=_time.strftime,
        )

    @contextlib.contextmanager
    def patch_botocore(self) -> Iterator[None]:
        """Drive botocore's retry sleeps and adaptive-mode rate limiter from this clock.

        Patches named module attributes only (never the global ``time`` module, which would
        break asyncio, Hypothesis deadlines and Locust): ``botocore.endpoint.time`` (the retry
        sleep), ``botocore.retries.bucket.time`` and ``.threading`` (adaptive mode's token bucket
        waits on a ``Condition``; the stand-in's ``wait`` advances simulated time instead).
        """
        import botocore.endpoint
        import botocore.retries.bucket as bucket

        fake_time = self.time_module()
        clock = self

        class _Condition:
            def __init__(self, lock: object = None) -> None:
                self._cond = threading.Condition(lock)  # type: ignore[arg-type]

            def __enter__(self) -> object:
                return self._cond.__enter__()

            def __exit__(self, *exc: object) -> None:
                self._cond.__exit__(*exc)

            def wait(self, timeout: float | None = None) -> bool:
                clock.sleep(timeout or 0.0)
                return True

            def notify(self, n: int = 1) -> None:
                self._cond.notify(n)

            def notify_all(self) -> None:
                self._cond.notify_all()

        fake_threading = types.SimpleNamespace(Lock=threading.Lock, Condition=_Condition)
        saved = (botocore.endpoint.time, bucket.time, bucket.threading)
        botocore.endpoint.time = fake_time  # type: ignore[assignment]
        bucket.time = fake_time  # type: ignore[assignment]
        bucket.threading = fake_threading  # type: ignore[assignment]
        try:
            yield
        finally:
            botocore.endpoint.time, bucket.time, bucket.threading = saved


class WallClock(Clock):
    """Engine time that follows real time, ``speed`` simulated seconds per real second."""

    def __init__(self, speed: float = 1.0) -> None:
        super().__init__(epoch=_time.time())
        self.speed = speed
        self._real0 = _time.monotonic()

    def sim_now(self) -> float:
        return (_time.monotonic() - self._real0) * self.speed

    def catch_up(self) -> None:
        self.run_until(self.sim_now())

    sync = catch_up

    def seconds_until(self, when: float) -> float:
        """Real seconds until engine time ``when``."""
        return max(0.0, (when - self.sim_now()) / self.speed)

    def next_wakeup(self) -> float:
        """Real seconds until the next scheduled event (capped, so waiters poll gently)."""
        with self.lock:
            nxt = self.env.peek()
        return min(self.seconds_until(nxt), 0.05)

    def settle(self, done: Callable[[], bool]) -> None:
        while True:
            self.catch_up()
            if done():
                return
            _time.sleep(self.next_wakeup() or 0.0005)

    def wait_until(self, when: float) -> None:
        while True:
            self.catch_up()
            left = self.seconds_until(when)
            if left <= 0:
                return
            _time.sleep(min(left, self.next_wakeup() or left))
