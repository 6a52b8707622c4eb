"""The HTTP door: an ASGI app (Starlette) serving the Bedrock Runtime API and the admin API.

The engine runs on the event loop's thread under a ``WallClock``. ``LoopDriver`` keeps the
simulation caught up with real time: it sleeps until the next simulated event, or until a new
request wakes it, and releases the handlers whose responses have become due.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from emulator.core import Emulator
from emulator.engine.clock import WallClock
from emulator.engine.faults import Fault
from emulator.wire.errors import BedrockError
from emulator.wire.exchange import Headers, WireRequest, WireResponse


class LoopDriver:
    def __init__(self, clock: WallClock) -> None:
        self.clock = clock
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def until(self, ready: Callable[[], bool]) -> None:
        """Return once ``ready()`` holds (checked after each catch-up of the simulation)."""
        if ready():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((ready, future))
        self.wake()
        await future

    async def at(self, when: float) -> None:
        """Return at engine time ``when`` (real time scaled by the clock's speed)."""
        delay = self.clock.seconds_until(when)
        if delay > 0:
            await asyncio.sleep(delay)
        self.clock.catch_up()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self.clock.catch_up()
            if self._waiters:
                waiting = []
                for ready, future in self._waiters:
                    if future.done():
                        continue
                    if ready():
                        future.set_result(None)
                    else:
                        waiting.append((ready, future))
                self._waiters = waiting
            delay = min(self.clock.seconds_until(self.clock.env.peek()), 1.0)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass


def _admin_error(message: str) -> JSONResponse:
    error = BedrockError("ValidationException", message)
    return JSONResponse({"message": message}, status_code=400, headers=dict(error.headers()[:1]))


def create_app(emulator: Emulator) -> Starlette:
    """The ASGI application for one emulator (its clock must be a ``WallClock``)."""
    assert isinstance(emulator.clock, WallClock), "the HTTP door needs a WallClock"
    driver = LoopDriver(emulator.clock)

    async def bedrock(request: Request) -> Response:
        wire = WireRequest(
            request.method,
            request.scope.get("raw_path", request.url.path.encode()).decode("latin-1"),
            Headers(list(request.headers.items())),
            await request.body(),
            parse_qs(request.url.query, keep_blank_values=True),
        )
        exchange = emulator.begin(wire)
        driver.wake()
        await driver.until(lambda: exchange.ready)
        response = exchange.render()
        await driver.at(response.ready_at)
        if response.frames is None:
            return Response(response.body, response.status, headers=_headers(response))
        return StreamingResponse(_frames(response), response.status, headers=_headers(response))

    async def _frames(response: WireResponse) -> AsyncIterator[bytes]:
        for frame in response.frames or []:
            await driver.at(frame.at)
            yield frame.data

    async def health(_: Request) -> JSONResponse:
        clock = emulator.clock
        return JSONResponse(
            {
                "status": "ok",
                "seed": emulator.config.seed,
                "clock": type(clock).__name__,
                "engine_time_s": clock.now,
                "models": len(emulator.catalog),
                "attempts": len(emulator.ledger),
            }
        )

    async def ledger(_: Request) -> JSONResponse:
        return JSONResponse({"records": emulator.ledger.to_dicts(), "totals": emulator.ledger.totals()})

    async def reset(_: Request) -> JSONResponse:
        emulator.reset()
        return JSONResponse({"reset": True})

    async def config(_: Request) -> JSONResponse:
        return JSONResponse(emulator.config.model_dump())

    async def faults(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            emulator.faults.clear()
        elif request.method == "POST":
            try:
                emulator.faults.add(_fault_from_json(await request.body()))
            except (ValueError, TypeError) as error:
                return _admin_error(f"Invalid fault: {error}")
        return JSONResponse({"faults": [_fault_dict(f) for f in emulator.faults]})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        driver.start()
        yield
        await driver.stop()

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
    app = Starlette(
        routes=[
            Mount(
                "/_emulator",
                routes=[
                    Route("/health", health),
                    Route("/ledger", ledger),
                    Route("/reset", reset, methods=["POST"]),
                    Route("/config", config),
                    Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
                ],
            ),
            Route("/{path:path}", bedrock, methods=methods),
        ],
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    return app


def _headers(response: WireResponse) -> dict[str, str]:
    return dict(response.headers)


def _fault_dict(fault: Fault) -> dict:
    return dataclasses.asdict(fault)


_FAULT_FIELDS = {f.name for f in dataclasses.fields(Fault) if f.init}


def _fault_from_json(raw: bytes) -> Fault:
    """A Fault from a POSTed object; what GET returns can be POSTed back (``hits`` is ignored)."""
    spec = json.loads(raw)
    if not isinstance(spec, dict):
        raise TypeError('a fault is a JSON object, e.g. {"code": "ThrottlingException"}')
    spec.pop("hits", None)
    unknown = sorted(set(spec) - _FAULT_FIELDS)
    if unknown:
        raise TypeError(f"unknown field(s) {', '.join(unknown)}; a fault has {', '.join(sorted(_FAULT_FIELDS))}")
    return Fault(**spec)
