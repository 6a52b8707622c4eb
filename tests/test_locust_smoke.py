"""Smoke test: real Locust (a subprocess) drives ``loadtests/locustfile.py`` against an EmulatorServer.

Locust is never imported here: ``import locust`` monkey-patches the standard library with gevent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import EmulatorServer

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO_ROOT / "loadtests" / "locustfile.py"
LLAMA_70B = "meta.llama3-1-70b-instruct-v1:0"


@pytest.mark.slow
def test_locust_drives_the_http_emulator_without_failures(tmp_path: Path) -> None:
    env = {**os.environ, "BEDROCK_MODEL": LLAMA_70B}
    with EmulatorServer(seed=11, speed=20) as server:
        command = [
            sys.executable, "-m", "locust",
            "-f", str(LOCUSTFILE),
            "--headless", "-u", "5", "-r", "5", "--run-time", "6s", "--stop-timeout", "2",
            "--host", server.endpoint_url,
            "--json", "--only-summary",
            "--csv", str(tmp_path / "run"),
        ]  # fmt: skip
        # cwd is tmp_path: the absolute paths must be enough, and no stray locust.conf is read.
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        records = server.ledger.records

    assert result.returncode == 0, result.stderr[-3000:]
    stats = {(entry["method"], entry["name"]): entry for entry in json.loads(result.stdout)}
    converse = stats[("Converse", LLAMA_70B)]
    latency = stats[("BedrockLatency", LLAMA_70B)]

    # 5 users, ~60 ms per call at speed 20 plus 50-200 ms of think time: ~25 calls/s for 6 s.
    assert converse["num_requests"] >= 20, result.stderr[-3000:]
    assert converse["num_failures"] == 0, result.stderr[-3000:]
    # Every successful call also reported the service-side latency, and that is simulated time:
    # about 20x what the client measured.
    assert latency["num_requests"] == converse["num_requests"]
    assert latency["num_failures"] == 0
    assert latency["total_response_time"] > converse["total_response_time"]
    assert 0 < converse["total_content_length"] <= 32 * converse["num_requests"]  # output tokens

    ok = [r for r in records if r.operation == "Converse" and r.outcome == "ok" and r.model_id == LLAMA_70B]
    assert len(ok) >= converse["num_requests"]
    assert sum(r.output_tokens for r in ok) >= converse["total_content_length"]

    assert (tmp_path / "run_stats.csv").is_file()
