"""Faults the engine consults at fixed points of every attempt.

* ``admission``: before any work, the error comes back at once (after the front-door latency);
* ``first_byte``: the request waits its cold start, queueing and time to first token, then fails;
* ``mid_stream``: a stream breaks after ``after_events`` content events with an exception frame
  (for a non-streaming call, the whole answer is generated and then the error is returned);
* ``completion``: the answer is fully generated, then the error is returned instead.

The ``chaos`` package builds named schedules on top of these; here is only the mechanism.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from emulator.wire.service import error_shapes

Point = Literal["admission", "first_byte", "mid_stream", "completion"]
POINTS: tuple[Point, ...] = ("admission", "first_byte", "mid_stream", "completion")


@dataclass
class Fault:
    code: str
    at: Point = "admission"
    probability: float = 1.0
    times: int | None = None  # attempts it may hit before it is spent; None: no limit
    model: str | None = None  # only requests to this model id (as resolved)
    operation: str | None = None  # only this operation, e.g. "Converse"
    message: str | None = None  # default: what the real service says
    after_events: int = 1  # mid_stream: content events delivered before the break
    hits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.code not in error_shapes():
            raise ValueError(f"unknown error code {self.code!r}; modeled codes: {sorted(error_shapes())}")
        if self.at not in POINTS:
            raise ValueError(f"unknown fault point {self.at!r}; one of {POINTS}")
        _typed("probability", self.probability, (int, float))
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within 0..1")
        # Checked here because faults also arrive as JSON over HTTP: a wrong type must be refused
        # at once, not break every request the fault later meets.
        for name in ("times", "after_events"):
            value = getattr(self, name)
            if value is not None or name == "after_events":
                _typed(name, value, (int,))
                if value < 0:
                    raise ValueError(f"{name} must not be negative")
        for name in ("model", "operation", "message"):
            if getattr(self, name) is not None:
                _typed(name, getattr(self, name), (str,))

    @property
    def spent(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def applies(self, point: Point, model_id: str, operation: str) -> bool:
        return (
            self.at == point
            and not self.spent
            and (self.model is None or self.model == model_id)
            and (self.operation is None or self.operation == operation)
        )


def _typed(name: str, value: object, types: tuple[type, ...]) -> None:
    if isinstance(value, bool) or not isinstance(value, types):
        wanted = " or ".join(t.__name__ for t in types)
        raise TypeError(f"{name} must be {wanted}, not {type(value).__name__}")


class FaultSet:
    """The active faults; the first that applies and wins its draw is the one that happens."""

    def __init__(self, rng: random.Random) -> None:
        self._faults: list[Fault] = []
        self._rng = rng

    def add(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault

    def inject(self, code: str, **kwargs: object) -> Fault:
        """Shorthand: ``faults.inject("ThrottlingException", times=2)``."""
        return self.add(Fault(code, **kwargs))  # type: ignore[arg-type]

    def remove(self, fault: Fault) -> None:
        self._faults.remove(fault)

    def clear(self) -> None:
        self._faults.clear()

    def __iter__(self):
        return iter(list(self._faults))

    def __len__(self) -> int:
        return len(self._faults)

    def draw(self, point: Point, model_id: str, operation: str) -> Fault | None:
        for fault in self._faults:
            if fault.applies(point, model_id, operation):
                if fault.probability >= 1.0 or self._rng.random() < fault.probability:
                    fault.hits += 1
                    return fault
        return None
