"""``mock_bedrock``: boto3 ``bedrock-runtime`` clients answered in-process.

The hook sits on botocore's ``before-send`` event, which fires after signing and *inside* the
SDK's retry loop, so the standard, legacy and adaptive retry modes run for real against it.
It answers only requests for AWS's own Bedrock Runtime endpoints; a client pointed at another
``endpoint_url`` (an ``EmulatorServer``, say) still goes over the network.
"""

from __future__ import annotations

import functools
import io
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import botocore.handlers
from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HeadersDict

from emulator.config import EmulatorConfig
from emulator.core import Emulator, EmulatorHandle, wire_request
from emulator.engine.clock import Clock, VirtualClock, WallClock
from emulator.wire.exchange import Headers, WireResponse

F = TypeVar("F", bound=Callable[..., Any])
_EVENT = "before-send.bedrock-runtime"
_active: list[BedrockMock] = []
_active_lock = threading.Lock()
_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "bedrock-chaos-testing",
    "AWS_SECRET_ACCESS_KEY": "bedrock-chaos-testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _is_aws_endpoint(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host.endswith(".amazonaws.com") or host.endswith(".api.aws")


def _dispatch(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
    """The one handler botocore calls; it answers for the innermost active mock."""
    if not _active or not _is_aws_endpoint(request.url):
        return None
    _silence_moto_for_bedrock()
    return _active[-1].respond(request)


# Registered once, for every botocore session created from now on (moto does the same).
if (_EVENT, _dispatch) not in botocore.handlers.BUILTIN_HANDLERS:
    botocore.handlers.BUILTIN_HANDLERS.append((_EVENT, _dispatch))


_moto_silenced = False


def _silence_moto_for_bedrock() -> None:
    """Inside moto's ``mock_aws`` its generic ``before-send`` handler also runs, and raises
    NotImplementedError for Converse. Make it stand aside for Bedrock Runtime while one of our
    mocks is active; it keeps mocking every other service. (Checked on every call, because moto
    may be imported after our first request.)"""
    global _moto_silenced
    if _moto_silenced or "moto.core.botocore_stubber" not in sys.modules:
        return
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request

    def process_request(self: Any, request: Any) -> Any:
        if _active and "bedrock-runtime" in (urlsplit(request.url).hostname or ""):
            return None
        return original(self, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    _moto_silenced = True


def _session_id(session: Any) -> int | None:
    return None if session is None else id(session._session)


# The boto3 default session that existed when the hook was registered (if any) never got it.
_stale_default_session = _session_id(sys.modules["boto3"].DEFAULT_SESSION) if "boto3" in sys.modules else None


def _predates_hook(session: Any) -> bool:
    return session is not None and _session_id(session) == _stale_default_session


class _Raw(io.RawIOBase):
    """What botocore reads a response from: ``read()`` for bodies, ``stream()`` for frames.
    Frames are handed over when their engine time comes (at once on a virtual clock)."""

    def __init__(self, response: WireResponse, clock: Clock) -> None:
        self._clock = clock
        self._frames = response.frames
        self._body = io.BytesIO(response.body if response.frames is None else b"")

    def readable(self) -> bool:
        return True

    def read(self, amt: int | None = -1) -> bytes:  # type: ignore[override]
        return self._body.read(amt if amt is not None else -1)

    def stream(self, **_: Any) -> Iterator[bytes]:
        if self._frames is None:
            data = self._body.read()
            if data:
                yield data
            return
        for frame in self._frames:
            self._clock.wait_until(frame.at)
            yield frame.data


class BedrockMock(EmulatorHandle):
    """The handle ``mock_bedrock`` yields: the emulator, its ledger, faults and clock."""

    def __init__(self, emulator: Emulator, patch_client_time: bool = True) -> None:
        self.emulator = emulator
        self._patch_client_time = patch_client_time
        self._saved_env: dict[str, str | None] = {}
        self._stack: list[Any] = []

    def patch_client(self, client: Any) -> Any:
        """Hook a client created before the mock started (newer clients need nothing)."""
        # Idempotent: a client made after ``emulator`` was imported already has the handler, and
        # botocore calls a twice-registered handler twice (two engine calls per request).
        client.meta.events.unregister(_EVENT, _dispatch)
        client.meta.events.register(_EVENT, _dispatch)
        return client

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> BedrockMock:
        import boto3

        for key, value in _FAKE_ENV.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ.setdefault(key, value)
        # A default session made before this module was imported lacks our handler: have the next
        # client build a new one. Later sessions have it, and reusing them keeps clients cheap.
        self._saved_session = boto3.DEFAULT_SESSION
        self._replaced_session = _predates_hook(boto3.DEFAULT_SESSION)
        if self._replaced_session:
            boto3.DEFAULT_SESSION = None
        if self._patch_client_time and isinstance(self.clock, VirtualClock):
            patcher = self.clock.patch_botocore()
            patcher.__enter__()
            self._stack.append(patcher)
        with _active_lock:
            _active.append(self)
        return self

    def stop(self) -> None:
        import boto3

        with _active_lock:
            if self in _active:
                _active.remove(self)
        while self._stack:
            self._stack.pop().__exit__(None, None, None)
        if self._replaced_session:
            boto3.DEFAULT_SESSION = self._saved_session
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __enter__(self) -> BedrockMock:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    # -- one request -------------------------------------------------------------------------
    def respond(self, request: AWSPreparedRequest) -> AWSResponse:
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode("utf-8")
        # botocore's prepared headers hold bytes values (what it writes to the socket); decode them
        # as an HTTP server does, so header-bound members (contentType, accept, ...) parse as strings.
        headers = Headers([(k, v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in request.headers.items()])
        wire = wire_request(request.method, request.url, headers, body or b"")
        clock = self.clock
        exchange = self.emulator.begin(wire)
        clock.settle(lambda: exchange.ready)
        response = exchange.render()
        clock.wait_until(response.ready_at)
        headers = HeadersDict()
        for name, value in response.headers:
            headers[name] = value
        return AWSResponse(request.url, response.status, headers, _Raw(response, clock))


def mock_bedrock(
    func: F | None = None,
    *,
    config: EmulatorConfig | str | os.PathLike[str] | None = None,
    seed: int | None = None,
    clock: Literal["virtual", "wall"] | Clock = "virtual",
    patch_client_time: bool = True,
) -> Any:
    """Answer boto3 ``bedrock-runtime`` calls in-process; a context manager and a decorator.

    ``clock="virtual"`` (default) runs simulated time as fast as events allow and drives
    botocore's retry sleeps from it, so a throttled retry loop finishes at once; ``"wall"`` makes
    each call take its simulated latency in real time. ``config`` is an ``EmulatorConfig`` or a
    YAML file path; ``seed`` overrides its seed.
    """
    if isinstance(config, (str, os.PathLike)):
        config = EmulatorConfig.from_yaml(config)
    if clock == "virtual":
        clock = VirtualClock()
    elif clock == "wall":
        clock = WallClock()
    mock = BedrockMock(Emulator(config, clock=clock, seed=seed), patch_client_time)
    if func is not None:
        return mock(func)
    return mock
