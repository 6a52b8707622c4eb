"""Where async-invoke jobs put their output: a local directory, or S3 through boto3.

Which one a job uses is decided once, at StartAsyncInvoke, by ``choose_sink`` and the config's
``async_invoke.output`` (see ``AsyncInvokeConfig``). Only an explicit ``output: s3`` without an
``s3_endpoint_url`` may reach AWS's own S3; ``auto`` uses moto's S3 only while moto's in-process
``mock_aws`` is active, and a guard on that client refuses to send anything moto did not answer.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from emulator.config import AsyncInvokeConfig

_S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)(?:/(?P<prefix>.*))?$")
_REGION = "us-east-1"
_DUMMY_CREDENTIALS = {"aws_access_key_id": "bedrock-chaos", "aws_secret_access_key": "bedrock-chaos"}


class OutputError(Exception):
    """The output could not be written; the message becomes the job's ``failureMessage``."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # without leading or trailing '/'; may be empty

    @classmethod
    def parse(cls, uri: str) -> S3Location | None:
        found = _S3_URI.match(uri)
        if found is None:
            return None
        return cls(found["bucket"], (found["prefix"] or "").strip("/"))

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"


class OutputSink(Protocol):
    kind: str

    def problem(self, location: S3Location) -> str | None:
        """Why this sink cannot write under ``location`` (checked at StartAsyncInvoke), or None."""

    def write(self, location: S3Location, key: str, data: bytes) -> None:
        """Store ``data`` at ``key`` (a full object key) in ``location``'s bucket; OutputError if not."""


def default_local_root() -> Path:
    return Path(tempfile.gettempdir()) / "bedrock-chaos" / "async-invoke"


class LocalSink:
    """``s3://bucket/prefix/key`` -> ``<root>/bucket/prefix/key``, never outside ``root``."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, bucket: str, key: str) -> Path | None:
        base = (self.root / bucket).resolve()
        target = (base / key).resolve()
        # An S3 key may hold '..' segments; on a filesystem they would climb out of the bucket.
        return target if target.is_relative_to(base) and target != base else None

    def problem(self, location: S3Location) -> str | None:
        if self.path(location.bucket, location.key("probe")) is None:
            return f"The S3 URI {location.uri()} cannot be mapped under the emulator's local output directory."
        return None

    def write(self, location: S3Location, key: str, data: bytes) -> None:
        target = self.path(location.bucket, key)
        if target is None:
            raise OutputError(f"Cannot write s3://{location.bucket}/{key} under {self.root}.")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a reader polling for the file never sees half of it.
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, target)
        except OSError as error:
            raise OutputError(f"Failed to write s3://{location.bucket}/{key}: {error.strerror or error}") from None


def moto_active() -> bool:
    """True while moto's in-process ``mock_aws`` answers boto3 calls in this process."""
    models = sys.modules.get("moto.core.models")
    stubber = getattr(models, "botocore_stubber", None)
    return bool(getattr(stubber, "enabled", False))


class _NotAnsweredByMoto(Exception):
    pass


def _moto_only(client: Any) -> None:
    """Route the client's requests through moto's stubber alone, refusing what it does not answer.

    botocore calls every ``before-send`` handler and sends whatever none answered, so moto's own
    handler is swapped for one that raises instead of letting a request reach the network.
    """
    stubber = getattr(sys.modules.get("moto.core.models"), "botocore_stubber", None)
    if stubber is None:
        raise OutputError("moto's mock_aws could not be found, so nothing was written.")

    def answer(request: Any, event_name: str, **kwargs: Any) -> Any:
        response = stubber(event_name, request, **kwargs)
        if response is None:
            raise _NotAnsweredByMoto(request.url)
        return response

    client.meta.events.unregister("before-send", stubber)
    client.meta.events.register("before-send", answer)


class S3Sink:
    """boto3 S3: at ``endpoint_url``, through moto (``via_moto``), or AWS's own S3 (explicit only)."""

    kind = "s3"

    def __init__(self, endpoint_url: str | None = None, *, via_moto: bool = False) -> None:
        self.endpoint_url = endpoint_url
        self.via_moto = via_moto
        self._client: Any = None

    def problem(self, location: S3Location) -> str | None:
        return None

    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # A fresh session: it picks up the before-send handlers of whatever is imported now
            # (moto's among them), which a session made before moto's import would lack.
            session = boto3.session.Session()
            credentials: dict[str, str] = {}
            if self.via_moto or (self.endpoint_url and session.get_credentials() is None):
                credentials = _DUMMY_CREDENTIALS
            config = Config(
                # One attempt: a retry's back-off would sleep inside the engine's event loop.
                retries={"total_max_attempts": 1},
                connect_timeout=5,
                read_timeout=10,
                s3={"addressing_style": "path"} if self.endpoint_url else None,
            )
            client = session.client(
                "s3", region_name=_REGION, endpoint_url=self.endpoint_url, config=config, **credentials
            )
            if self.via_moto:
                _moto_only(client)
            self._client = client
        return self._client

    def write(self, location: S3Location, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if self.via_moto and not moto_active():
            raise OutputError(
                "moto's mock_aws was no longer active when the output was due; nothing was written "
                "(bedrock-chaos never falls back to AWS's own S3)."
            )
        try:
            self.client().put_object(
                Bucket=location.bucket, Key=key, Body=data, ContentType="application/json"
            )
        except ClientError as error:
            info = error.response.get("Error", {})
            raise OutputError(
                f"Failed to write s3://{location.bucket}/{key}: {info.get('Code', 'Error')}: {info.get('Message', '')}"
            ) from None
        except _NotAnsweredByMoto:
            raise OutputError(
                f"moto did not answer the write of s3://{location.bucket}/{key}; it was not sent anywhere else."
            ) from None
        except BotoCoreError as error:
            raise OutputError(f"Failed to write s3://{location.bucket}/{key}: {error}") from None


def choose_sink(config: AsyncInvokeConfig) -> tuple[str, str | None]:
    """The sink a new job uses, as a key for ``make_sink``: ``(kind, endpoint_or_root)``."""
    if config.output == "local":
        return ("local", config.local_root)
    if config.output == "s3" or config.s3_endpoint_url:
        return ("s3", config.s3_endpoint_url)
    if moto_active():
        return ("moto", None)
    return ("local", config.local_root)


def make_sink(key: tuple[str, str | None]) -> OutputSink:
    kind, where = key
    if kind == "local":
        return LocalSink(Path(where) if where else default_local_root())
    if kind == "moto":
        return S3Sink(via_moto=True)
    return S3Sink(where)
