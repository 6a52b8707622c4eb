"""Fixtures shared by the project's tests: real boto3 clients against both doors."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.httpsession import URLLib3Session

from emulator import EmulatorServer, mock_bedrock
from emulator.core import Emulator, EmulatorHandle

SEED = 1234
LLAMA_70B = "meta.llama3-1-70b-instruct-v1:0"
CLAUDE_HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
# HTTP tests run simulated time this many times faster than real time, so a 2 s answer takes 40 ms.
HTTP_SPEED = 50.0


def make_client(endpoint_url: str | None = None, *, retry_mode: str = "standard",
                max_attempts: int | None = None, **config: Any) -> Any:
    retries: dict[str, Any] = {"mode": retry_mode}
    if max_attempts is not None:
        retries["total_max_attempts"] = max_attempts
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries=retries, **config),
    )


@dataclass
class Door(EmulatorHandle):
    """One way into the emulator, as a test sees it."""

    name: str
    emulator: Emulator
    endpoint_url: str | None

    def client(self, **kwargs: Any) -> Any:
        return make_client(self.endpoint_url, **kwargs)



LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class RealNetworkBlocked(Exception):
    """botocore tried to send a request off this machine."""


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach AWS: botocore refuses any host but loopback, so a request the emulator
    failed to answer in-process fails loudly instead of leaving the machine."""
    send = URLLib3Session.send

    def send_to_loopback(self: URLLib3Session, request: Any) -> Any:
        if urlsplit(request.url).hostname not in LOOPBACK:
            raise RealNetworkBlocked(request.url)
        return send(self, request)

    monkeypatch.setattr(URLLib3Session, "send", send_to_loopback)
    # Nor may a credential lookup probe the EC2 metadata service (a link-local address).
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def mock() -> Iterator[Any]:
    with mock_bedrock(seed=SEED) as handle:
        yield handle


@pytest.fixture(scope="session")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(seed=SEED, speed=HTTP_SPEED) as srv:
        yield srv


@pytest.fixture
def http_door(server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Door:
    server.emulator.reset()
    # botocore's retry back-off would sleep for real; the attempts still happen, only faster.
    # Only botocore's own name for the time module is replaced, never the global one.
    import botocore.endpoint

    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda _s: None, time=time.time))
    return Door("http", server.emulator, server.endpoint_url)


@pytest.fixture(params=["in-process", "http"])
def door(request: pytest.FixtureRequest) -> Door:
    if request.param == "in-process":
        handle = request.getfixturevalue("mock")
        return Door("in-process", handle.emulator, None)
    return request.getfixturevalue("http_door")


def refused(door: Door, call: Callable[[], Any], operation: str) -> str:
    """Run a call the emulator must refuse: 400 ValidationException, not retried, exactly one ledger
    record (the refused attempt, billed nothing); returns the message."""
    before = len(door.ledger)
    with pytest.raises(ClientError) as info:
        call()
    err = info.value
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.response["Error"]["Code"] == "ValidationException"
    assert err.response["ResponseMetadata"].get("RetryAttempts", 0) == 0
    records = door.ledger.records
    assert len(records) == before + 1
    assert (records[-1].operation, records[-1].outcome) == (operation, "ValidationException")
    assert records[-1].request_id == err.response["ResponseMetadata"]["RequestId"]
    assert records[-1].output_tokens == 0 and records[-1].cost_usd == 0
    return err.response["Error"]["Message"]
