"""The chaos harness: named faults and, later, schedules, scenarios, oracles and reviews.

The mechanism lives in the engine (``emulator.engine.faults``); this package names the failures
that production Bedrock traffic actually meets, so a test reads like the incident it rehearses.
"""

from chaos.catalog import (
    broken_stream,
    capacity_shortage,
    cold_model,
    model_error,
    model_timeout,
    throttle_storm,
)

__all__ = [
    "broken_stream",
    "capacity_shortage",
    "cold_model",
    "model_error",
    "model_timeout",
    "throttle_storm",
]
