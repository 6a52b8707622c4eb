"""One module per group of operations: each turns validated params into an ``Exchange``.

``HANDLERS`` maps a botocore operation name to its handler; an operation missing here is
answered with an AWS-shaped error by the core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emulator.operations import async_invoke, guardrails, inference
from emulator.operations.base import Exchange

if TYPE_CHECKING:
    from emulator.core import Emulator

Handler = Callable[["Emulator", str, dict[str, Any]], Exchange]

HANDLERS: dict[str, Handler] = {name: inference.handle for name in inference.OPERATIONS}
HANDLERS.update({name: guardrails.handle for name in guardrails.OPERATIONS})
HANDLERS.update({name: async_invoke.handle for name in async_invoke.OPERATIONS})
