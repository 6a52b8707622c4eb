"""Faults that real Bedrock clients report, as ready-made ``Fault`` values.

Each returns a fresh ``Fault``; add it with ``handle.faults.add(...)`` (or POST it to
``/_emulator/faults``). Messages default to what the service sends (``emulator.wire.errors``).
"""

from __future__ import annotations

from emulator.engine.faults import Fault


def throttle_storm(probability: float = 0.5, *, model: str | None = None, times: int | None = None) -> Fault:
    """429 ThrottlingException on a share of attempts, as when a per-model quota runs dry."""
    return Fault("ThrottlingException", probability=probability, model=model, times=times)


def capacity_shortage(probability: float = 0.2, *, model: str | None = None, times: int | None = None) -> Fault:
    """503 ServiceUnavailableException: the service-side capacity shortage, not your quota."""
    return Fault("ServiceUnavailableException", probability=probability, model=model, times=times)


def cold_model(times: int = 2, *, model: str | None = None) -> Fault:
    """429 ModelNotReadyException for the first attempts, as an evicted imported model restores."""
    return Fault("ModelNotReadyException", times=times, model=model)


def model_timeout(probability: float = 1.0, *, model: str | None = None, times: int | None = None) -> Fault:
    """408 ModelTimeoutException after the full wait for a first byte; the SDK never retries it."""
    return Fault("ModelTimeoutException", at="first_byte", probability=probability, model=model, times=times)


def model_error(probability: float = 1.0, *, model: str | None = None, times: int | None = None) -> Fault:
    """424 ModelErrorException once the answer was generated (and billed); never retried."""
    return Fault("ModelErrorException", at="completion", probability=probability, model=model, times=times)


def broken_stream(after_events: int = 3, *, code: str = "ModelStreamErrorException",
                  probability: float = 1.0, model: str | None = None) -> Fault:
    """A stream that fails half-way: ``after_events`` deltas arrive, then an exception frame."""
    return Fault(code, at="mid_stream", after_events=after_events, probability=probability, model=model)
