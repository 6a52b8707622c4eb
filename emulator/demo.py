"""``bedrock-chaos demo``: the main job, end to end on the embedded default config.

1. the brief's cold-start check: 10 sequential requests to a 70B-class model over HTTP;
2. non-determinism: one question twice at temperature 0.7, then the same two calls replayed in a
   fresh emulator with the same seed;
3. a burst above the 5,000 requests/s account cap, in virtual time;
4. token usage and cost from the ledgers.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.serialize import create_serializer

from emulator.config import EmulatorConfig
from emulator.core import Emulator, wire_request
from emulator.engine.clock import VirtualClock
from emulator.engine.ledger import Ledger
from emulator.transports.server import EmulatorServer
from emulator.wire import service

MODEL = "meta.llama3-1-70b-instruct-v1:0"
QUESTION = "How should we size retries against a 5k RPS cap?"

Print = Callable[[str], None]


def _client(endpoint_url: str) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="demo",
        aws_secret_access_key="demo",
        config=Config(retries={"total_max_attempts": 1}),
    )


def _ask(client: Any, temperature: float, max_tokens: int) -> dict[str, Any]:
    return client.converse(
        modelId=MODEL,
        messages=[{"role": "user", "content": [{"text": QUESTION}]}],
        inferenceConfig={"maxTokens": max_tokens, "temperature": temperature},
    )


def _answer(response: dict[str, Any]) -> str:
    return response["output"]["message"]["content"][0]["text"]


def cold_start_check(config: EmulatorConfig, out: Print) -> Ledger:
    out(f"1. Cold-start check: 10 sequential Converse calls to {MODEL} over HTTP (real time)")
    with EmulatorServer(config) as server:
        client = _client(server.endpoint_url)
        out(f"   emulator at {server.endpoint_url}")
        out("    #   client s   server s   cold   output tokens")
        latencies = []
        for i in range(10):
            start = time.perf_counter()
            response = _ask(client, temperature=0.7, max_tokens=24)
            elapsed = time.perf_counter() - start
            record = server.ledger.records[-1]
            latencies.append((elapsed, record.cold))
            out(
                f"   {i + 1:2d}   {elapsed:7.3f}   {response['metrics']['latencyMs'] / 1000:8.3f}"
                f"   {'cold' if record.cold else 'warm':4s}   {response['usage']['outputTokens']:5d}"
            )
        warm = [s for s, cold in latencies if not cold]
        cold = [s for s, is_cold in latencies if is_cold]
        out(
            f"   cold: {len(cold)} ({', '.join(f'{s:.3f} s' for s in cold)}); warm: {len(warm)}, "
            f"p50 {statistics.median(warm):.3f} s, max {max(warm):.3f} s"
        )
        return server.ledger


def determinism_check(config: EmulatorConfig, out: Print) -> tuple[Ledger, bool]:
    out("")
    out(f"2. Non-determinism: {QUESTION!r} twice at temperature 0.7")
    runs = []
    ledgers = []
    for label in ("first emulator", "fresh emulator, same seed"):
        with EmulatorServer(config) as server:
            client = _client(server.endpoint_url)
            answers = [_answer(_ask(client, temperature=0.7, max_tokens=40)) for _ in range(2)]
            runs.append(answers)
            ledgers.append(server.ledger)
        out(f"   {label} (seed {config.seed}):")
        for n, text in enumerate(answers, 1):
            out(f"     answer {n}: {text[:90]}{'...' if len(text) > 90 else ''}")
    differ = runs[0][0] != runs[0][1]
    repeat = runs[0] == runs[1]
    out(f"   the two answers differ: {'yes' if differ else 'NO'}; the replay repeats them: {'yes' if repeat else 'NO'}")
    merged = Ledger()
    for ledger in ledgers:
        for record in ledger.records:
            merged.append(record)
    return merged, differ and repeat


def burst_check(config: EmulatorConfig, out: Print, rate: int = 8000, seconds: int = 3) -> Ledger:
    cap = config.account.requests_per_second
    out("")
    out(f"3. Burst: {rate:,} Converse requests/s for {seconds} s against the {cap:,.0f}/s account cap (virtual time)")
    emulator = Emulator(config, clock=VirtualClock())
    op = service.operation("Converse")
    prepared = create_serializer("rest-json").serialize_to_request(
        {
            "modelId": MODEL,
            "messages": [{"role": "user", "content": [{"text": QUESTION}]}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.7},
        },
        op,
    )
    url = "https://bedrock-runtime.us-east-1.amazonaws.com" + prepared["url_path"]
    started = time.perf_counter()
    for i in range(rate * seconds):
        emulator.clock.run_until(i / rate)
        emulator.begin(wire_request("POST", url, prepared["headers"], prepared["body"]))
    emulator.clock.run_until(seconds + 30)
    real = time.perf_counter() - started
    epoch = emulator.clock.epoch
    offered: Counter[int] = Counter()
    accepted: Counter[int] = Counter()
    for record in emulator.ledger.records:
        second = int(record.time - epoch)
        offered[second] += 1
        accepted[second] += record.outcome == "ok"
    out("   second   offered   accepted   throttled")
    for s in range(seconds):
        out(f"   {s:6d}   {offered[s]:7,d}   {accepted[s]:8,d}   {offered[s] - accepted[s]:9,d}")
    total_ok = sum(accepted.values())
    burst = config.account.burst
    out(
        f"   accepted {total_ok / seconds:,.0f}/s on average: the cap of {cap:,.0f}/s plus the bucket's "
        f"initial depth of {burst:,.0f} in second 0; {seconds} simulated seconds took {real:.1f} s of real time"
    )
    return emulator.ledger


def _totals(label: str, ledger: Ledger, out: Print) -> None:
    t = ledger.totals()
    outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(t["outcomes"].items()))
    out(
        f"   {label:<26s} {t['attempts']:7,d} attempts ({outcomes}); "
        f"{t['input_tokens']:,} in / {t['output_tokens']:,} out tokens; ${t['cost_usd']:,.4f}"
    )


def run(config: EmulatorConfig | None = None, out: Print = print) -> int:
    """Run the demo; returns the process exit code."""
    config = config or EmulatorConfig()
    pricing = config.pricing
    out(f"bedrock-chaos demo (seed {config.seed}; ${pricing.input_per_million:g} / "
        f"${pricing.output_per_million:g} per 1M input / output tokens)")
    out("")
    cold = cold_start_check(config, out)
    seeded, determinism_ok = determinism_check(config, out)
    burst = burst_check(config, out)
    out("")
    out("4. Token usage and cost, from the ledgers")
    _totals("cold-start check", cold, out)
    _totals("non-determinism check", seeded, out)
    _totals("burst", burst, out)
    return 0 if determinism_ok else 1
