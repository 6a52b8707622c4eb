"""Locust load test: boto3 ``converse`` calls against a bedrock-chaos emulator.

Start the emulator, then point Locust at it with ``--host``:

    bedrock-chaos serve --host 127.0.0.1 --port 8000 --seed 1
    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 \\
        --headless -u 20 -r 10 --run-time 1m [--bedrock-model anthropic.claude-3-haiku-20240307-v1:0]

The model can also come from ``BEDROCK_MODEL``. Each call is reported twice: ``Converse`` is the
latency the client saw (``response_length`` = output tokens) and ``BedrockLatency`` is the
service-side ``metrics.latencyMs`` the emulator reported for that call.

SDK retries are off (one attempt per call), so throttles show up as Locust failures instead of
being absorbed by botocore's retry loop.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from locust import User, between, events, task
from locust.exception import LocustError

DEFAULT_MODEL = "meta.llama3-1-70b-instruct-v1:0"
MAX_TOKENS = 32
PROMPT = "In one sentence: why do load tests need a warm-up?"

# Creating the first client of a Session loads botocore's JSON models (~65 ms of CPU, which blocks
# every greenlet); later clients of the same Session are cheap. So: one Session per process.
SESSION = boto3.session.Session()


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--bedrock-model",
        type=str,
        env_var="BEDROCK_MODEL",
        default=DEFAULT_MODEL,
        help=f"Model ID for Converse (default {DEFAULT_MODEL})",
    )


class BedrockConverseUser(User):
    """One simulated caller: Converse, a short think time, again."""

    wait_time = between(0.05, 0.2)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.host:
            # Never fall back to boto3's default endpoint, i.e. real AWS.
            raise LocustError("pass the emulator's URL with --host, e.g. --host http://127.0.0.1:8000")
        options = self.environment.parsed_options
        self.model_id: str = getattr(options, "bedrock_model", None) or DEFAULT_MODEL
        self.client = SESSION.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=self.host,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(
                # A user makes one call at a time; a small pool keeps its keep-alive connection.
                max_pool_connections=2,
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=5,
                read_timeout=60,
            ),
        )

    @task
    def converse(self) -> None:
        request_event = self.environment.events.request
        start = time.perf_counter()
        try:
            response = self.client.converse(
                modelId=self.model_id,
                messages=[{"role": "user", "content": [{"text": PROMPT}]}],
                inferenceConfig={"maxTokens": MAX_TOKENS},
            )
        except (ClientError, BotoCoreError) as error:
            request_event.fire(
                request_type="Converse",
                name=self.model_id,
                response_time=(time.perf_counter() - start) * 1000,
                response_length=0,
                exception=error,
            )
            return
        elapsed_ms = (time.perf_counter() - start) * 1000
        output_tokens = response["usage"]["outputTokens"]
        request_event.fire(
            request_type="Converse",
            name=self.model_id,
            response_time=elapsed_ms,
            response_length=output_tokens,
            exception=None,
        )
        request_event.fire(
            request_type="BedrockLatency",
            name=self.model_id,
            response_time=response["metrics"]["latencyMs"],
            response_length=output_tokens,
            exception=None,
        )
