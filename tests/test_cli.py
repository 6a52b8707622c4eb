"""The command line: ``serve`` on loopback with a config file, ``demo`` end to end, ``schema``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import LLAMA_70B, make_client

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def served(tmp_path: Path):
    config = tmp_path / "bedrock.yaml"
    config.write_text("seed: 99\naccount:\n  requests_per_second: 0.01\n  burst: 2\n")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "serve", "--port", str(port), "--config", str(config),
         "--speed", "20", "--log-level", "warning"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(base + "/_emulator/health", timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_answers_boto3_and_admin_routes(served: str) -> None:
    health = requests.get(served + "/_emulator/health", timeout=5).json()
    assert health["status"] == "ok" and health["seed"] == 99 and health["clock"] == "WallClock"
    config = requests.get(served + "/_emulator/config", timeout=5).json()
    assert config["account"] == {"requests_per_second": 0.01, "burst": 2.0}  # from the --config file

    client = make_client(served, max_attempts=1)
    reply = client.converse(modelId=LLAMA_70B, messages=[{"role": "user", "content": [{"text": "hi"}]}],
                            inferenceConfig={"maxTokens": 8})
    assert reply["usage"]["outputTokens"] <= 8
    # the config's 2-request bucket: two more immediate calls, the last is throttled
    client.count_tokens(modelId=LLAMA_70B, input={"converse": {"messages": [
        {"role": "user", "content": [{"text": "hi"}]}]}})
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(modelId=LLAMA_70B, messages=[{"role": "user", "content": [{"text": "hi"}]}])

    ledger = requests.get(served + "/_emulator/ledger", timeout=5).json()
    outcomes = [r["outcome"] for r in ledger["records"]]
    assert outcomes == ["ok", "ok", "ThrottlingException"]
    assert ledger["totals"]["attempts"] == 3
    assert requests.post(served + "/_emulator/reset", timeout=5).json() == {"reset": True}
    assert requests.get(served + "/_emulator/ledger", timeout=5).json()["records"] == []


def test_serve_rejects_a_bad_config_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("account:\n  requests_per_second: -5\n")
    result = _cli("serve", "--config", str(config), "--port", str(_free_port()), timeout=60)
    assert result.returncode == 2
    assert "requests_per_second" in result.stderr


def test_schema_is_valid_json_schema() -> None:
    result = _cli("schema", timeout=60)
    schema = json.loads(result.stdout)
    assert result.returncode == 0
    assert {"account", "fleet", "size_classes", "pricing"} <= set(schema["properties"])


@pytest.mark.slow
def test_demo_runs_the_main_job() -> None:
    result = _cli("demo", "--seed", "3", timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    rows = [line.split() for line in out.splitlines()]
    cold_flags = [row[3] for row in rows if len(row) == 5 and row[3] in ("cold", "warm")]
    assert cold_flags == ["cold"] + ["warm"] * 9
    assert "the two answers differ: yes; the replay repeats them: yes" in out
    # burst rows: second, offered, accepted, throttled; the first second includes the bucket's burst
    burst = [row for row in rows if len(row) == 4 and row[0].isdigit() and row[1] == "8,000"]
    accepted = [int(row[2].replace(",", "")) for row in burst[1:]]
    assert accepted and all(abs(a - 5000) <= 100 for a in accepted)  # the cap, within 2%
    assert "Token usage and cost" in out and "$" in out


def test_malformed_yaml_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("account: {requests_per_second: 5\n")
    result = _cli("demo", "--config", str(config), timeout=60)
    assert result.returncode == 2
    assert str(config) in result.stderr and "Traceback" not in result.stderr


def test_readme_example_config_passes_the_published_schema_and_loads(tmp_path: Path) -> None:
    import jsonschema
    import yaml

    readme = (REPO / "README.md").read_text()
    block = readme.split("## Configuration", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    schema = json.loads(_cli("schema", timeout=60).stdout)
    jsonschema.validate(yaml.safe_load(block), schema)
    path = tmp_path / "readme.yaml"
    path.write_text(block)
    from emulator.config import EmulatorConfig

    assert EmulatorConfig.from_yaml(path).seed == yaml.safe_load(block)["seed"]


def test_models_lists_the_catalogue() -> None:
    result = _cli("models", timeout=60)
    assert result.returncode == 0
    assert LLAMA_70B in result.stdout and "anthropic.claude-3-haiku-20240307-v1:0" in result.stdout


def test_serve_tls_accepts_a_bearer_token_client(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "serve", "--port", str(port), "--tls", "--speed", "50",
         "--log-level", "warning"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        ca_bundle = first.rsplit("AWS_CA_BUNDLE=", 1)[1].strip()
        assert "https://" in proc.stdout.readline()
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-testing")
        # an API key is all a bearer client needs; dummy keys keep botocore's credential chain local
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        client = boto3.client("bedrock-runtime", region_name="us-east-1",
                              endpoint_url=f"https://127.0.0.1:{port}", verify=ca_bundle)
        deadline = time.monotonic() + 30
        while True:
            try:
                reply = client.converse(modelId=LLAMA_70B, messages=[{"role": "user", "content": [{"text": "hi"}]}],
                                        inferenceConfig={"maxTokens": 4})
                break
            except Exception:  # the server may still be starting
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert reply["usage"]["outputTokens"] <= 4
        client.close()  # an idle TLS keep-alive connection would hold up the server's shutdown
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
