"""Async-invoke jobs: each one an engine ``Call`` whose answer is delivered at its finish time.

A job is InProgress from StartAsyncInvoke until the engine time its call finishes (the same time
an InvokeModel with that body would have answered); then ``deliver`` writes its output and the
job becomes Completed, or Failed when a fault hit the call or the output could not be written.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from emulator.engine.clock import Clock
from emulator.engine.engine import Call

Status = Literal["InProgress", "Completed", "Failed"]
_ID_ALPHABET = string.ascii_lowercase + string.digits
# The engine offers no "decided" hook, so a job whose call waits for a container looks again
# this often (engine seconds). It only delays noticing the decision, never the finish time.
_DECISION_POLL_S = 0.05


@dataclass(eq=False)
class AsyncJob:
    job_id: str
    arn: str
    model_arn: str
    call: Call
    request: dict[str, Any]  # the StartAsyncInvoke params that matter for idempotency and echoes
    fingerprint: str
    sequence: int
    submitted_at: float  # engine time
    client_token: str | None = None
    status: Status = "InProgress"
    failure: str | None = None
    ended_at: float | None = None
    context: Any = field(default=None, repr=False)  # what ``deliver`` needs (location, sink, ...)

    @property
    def last_modified_at(self) -> float:
        return self.submitted_at if self.ended_at is None else self.ended_at


class JobStore:
    """The jobs of one engine. ``current()`` turns False once the emulator is reset, and a job of
    a forgotten store neither delivers nor changes (the reset forgot it)."""

    def __init__(
        self,
        clock: Clock,
        seed: int,
        deliver: Callable[[AsyncJob], None],
        current: Callable[[], bool],
    ) -> None:
        self.clock = clock
        self._deliver = deliver
        self._current = current
        self._rng = random.Random(f"{seed}:async-invoke")
        self._jobs: dict[str, AsyncJob] = {}
        self._by_token: dict[str, AsyncJob] = {}
        self._ids: set[str] = set()
        self._sequence = 0
        self.sinks: dict[Any, Any] = {}  # output sinks by key, shared by the jobs that use one

    # -- ids -----------------------------------------------------------------------------------
    def new_job_id(self) -> str:
        while True:
            job_id = "".join(self._rng.choice(_ID_ALPHABET) for _ in range(12))
            if job_id not in self._ids:
                self._ids.add(job_id)
                return job_id

    def new_request_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    # -- lookups -------------------------------------------------------------------------------
    def get(self, arn: str) -> AsyncJob | None:
        return self._jobs.get(arn)

    def by_token(self, token: str) -> AsyncJob | None:
        return self._by_token.get(token)

    def __iter__(self) -> Iterator[AsyncJob]:
        return iter(list(self._jobs.values()))

    def __len__(self) -> int:
        return len(self._jobs)

    def unix_time(self, engine_time: float) -> float:
        return self.clock.epoch + engine_time

    # -- life of a job -------------------------------------------------------------------------
    def add(self, job: AsyncJob) -> AsyncJob:
        """Register a job whose call the engine has admitted, and have it finish on time."""
        self._jobs[job.arn] = job
        if job.client_token is not None:
            self._by_token[job.client_token] = job
        self._watch(job)
        return job

    def _watch(self, job: AsyncJob) -> None:
        env = self.clock.env
        outcome = job.call.outcome
        if outcome is None:  # still queued for a container
            env.timeout(_DECISION_POLL_S).callbacks.append(lambda _ev: self._watch(job))
            return
        env.timeout(max(0.0, outcome.respond_at - env.now)).callbacks.append(lambda _ev: self._finish(job))

    def _finish(self, job: AsyncJob) -> None:
        if not self._current():
            return
        outcome = job.call.outcome
        assert outcome is not None
        job.ended_at = outcome.respond_at
        if outcome.error is not None:
            job.status, job.failure = "Failed", f"{outcome.error.code}: {outcome.error.message}"
            return
        try:
            self._deliver(job)
        # This runs inside a simpy callback: anything escaping would surface in whichever request
        # happens to be stepping the clock. A job that cannot deliver fails, as on AWS.
        except Exception as error:
            job.status, job.failure = "Failed", str(error) or type(error).__name__
        else:
            job.status = "Completed"
