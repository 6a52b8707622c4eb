"""A token bucket kept as two numbers: no simpy process, no event per refill."""

from __future__ import annotations


class TokenBucket:
    def __init__(self, rate: float, burst: float, now: float = 0.0) -> None:
        self.rate = rate
        self.burst = burst
        self.level = burst
        self.updated = now

    def try_take(self, now: float, amount: float = 1.0) -> bool:
        """Take ``amount`` if it is there at time ``now``; False means the caller is throttled."""
        level = min(self.burst, self.level + (now - self.updated) * self.rate)
        self.updated = now
        if level >= amount:
            self.level = level - amount
            return True
        self.level = level
        return False
