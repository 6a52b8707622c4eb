"""``EmulatorServer``: the HTTP emulator on a loopback port, in a background thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from emulator.config import EmulatorConfig
from emulator.core import Emulator, EmulatorHandle
from emulator.engine.clock import WallClock
from emulator.transports.asgi import create_app
from emulator.transports.tls import Certificate, make_certificate


class EmulatorServer(EmulatorHandle):
    """Serve the emulator over HTTP for tests and notebooks.

        with EmulatorServer(seed=7) as server:
            client = boto3.client("bedrock-runtime", endpoint_url=server.endpoint_url)

    ``port=0`` picks a free port. ``speed`` runs simulated time faster than real time. ``tls=True``
    serves HTTPS with a throwaway certificate (``ca_bundle`` is the CA file to trust).
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        speed: float = 1.0,
        log_level: str = "warning",
        tls: bool = False,
    ) -> None:
        self.emulator = Emulator(config, clock=WallClock(speed), seed=seed)
        self.host = host
        self._port = port
        self.ca_bundle: str | None = None  # with tls=True: the CA file a client must trust
        self._certificate: Certificate | None = None
        ssl: dict[str, str] = {}
        if tls:
            cert = self._certificate = make_certificate(host)
            self.ca_bundle = cert.ca_bundle
            ssl = {"ssl_certfile": cert.certfile, "ssl_keyfile": cert.keyfile}
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(
                create_app(self.emulator),
                host=host,
                port=port,
                log_level=log_level,
                access_log=False,
                lifespan="on",
                **ssl,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def endpoint_url(self) -> str:
        scheme = "https" if self.ca_bundle else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def client(self, **config: Any) -> Any:
        """A boto3 ``bedrock-runtime`` client for this server (dummy credentials, us-east-1).

        Keyword arguments go to ``botocore.config.Config``, e.g. ``retries={"mode": "legacy"}``.
        """
        import boto3
        from botocore.config import Config

        return boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            verify=self.ca_bundle,
            config=Config(**config),
        )

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        self._thread = threading.Thread(target=self._uvicorn.run, name="bedrock-chaos-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator server did not start on {self.host}:{self._port}")
            time.sleep(0.01)
        self._port = self._uvicorn.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._certificate is not None:
            self._certificate.remove()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
