"""How many attempts per real second the engine and the full wire path handle in virtual time.

Prints each path's rate and its ratio to a baseline measured in the same run: the cheapest simpy
pattern (a Timeout with one callback per request), the floor any engine built on simpy pays.
Run: ``python benchmarks/engine_throughput.py [requests]``.
"""

from __future__ import annotations

import sys
import time

import simpy
from botocore.serialize import create_serializer

from emulator.config import EmulatorConfig
from emulator.core import Emulator, wire_request
from emulator.engine.clock import VirtualClock
from emulator.engine.engine import Engine, Invocation
from emulator.wire import service

MODEL = "meta.llama3-1-70b-instruct-v1:0"
RATE = 4000.0  # offered per simulated second: below the cap, so every attempt runs the fleet


def baseline(n: int) -> float:
    env = simpy.Environment()
    done = [0]

    def finish(_ev: object) -> None:
        done[0] += 1

    start = time.perf_counter()
    for i in range(n):
        env.run(until=i / RATE + 1e-9) if i else None
        ev = env.timeout(1.0)
        ev.callbacks.append(finish)
    env.run()
    return n / (time.perf_counter() - start)


def engine_only(n: int) -> float:
    clock = VirtualClock()
    engine = Engine(EmulatorConfig(), clock)
    model = engine.catalog.resolve(MODEL)
    assert model is not None
    start = time.perf_counter()
    for i in range(n):
        clock.run_until(i / RATE)
        engine.submit(Invocation("Converse", MODEL, model, 300, 256, 0.7, b"p"))
    clock.run_until(n / RATE + 60)
    return n / (time.perf_counter() - start)


def full_wire(n: int) -> float:
    emulator = Emulator(EmulatorConfig(), clock=VirtualClock())
    prepared = create_serializer("rest-json").serialize_to_request(
        {"modelId": MODEL, "messages": [{"role": "user", "content": [{"text": "hello"}]}],
         "inferenceConfig": {"maxTokens": 256}},
        service.operation("Converse"),
    )
    url = "https://bedrock-runtime.us-east-1.amazonaws.com" + prepared["url_path"]
    start = time.perf_counter()
    for i in range(n):
        emulator.clock.run_until(i / RATE)
        exchange = emulator.begin(wire_request("POST", url, prepared["headers"], prepared["body"]))
        exchange.render() if exchange.ready else None
    emulator.clock.run_until(n / RATE + 60)
    return n / (time.perf_counter() - start)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40_000
    base = baseline(n)
    print(f"{'path':<40s} {'attempts/s':>12s} {'vs baseline':>12s}")
    print(f"{'baseline: simpy timeout + callback':<40s} {base:12,.0f} {1.0:12.2f}")
    for name, fn in (("engine: Engine.submit", engine_only), ("wire: parse+validate+engine+render", full_wire)):
        rate = fn(n)
        print(f"{name:<40s} {rate:12,.0f} {rate / base:12.2f}")


if __name__ == "__main__":
    main()
