"""StartAsyncInvoke / GetAsyncInvoke / ListAsyncInvokes through real boto3 clients.

The output lands in moto's S3 (in-process, under ``mock_aws``) or in a local directory (on the HTTP
door). Nothing here may leave the machine: ``no_internet`` makes botocore's HTTP layer refuse any
host but loopback, so an S3 write that escaped moto would fail the test loudly.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from emulator import EmulatorServer, mock_bedrock
from emulator.async_output import LocalSink, S3Location, choose_sink, default_local_root
from emulator.config import AsyncInvokeConfig, EmulatorConfig
from emulator.transports.inprocess import BedrockMock
from tests.conftest import CLAUDE_HAIKU, LLAMA_70B, SEED, make_client

BUCKET = "bedrock-chaos-async"
S3_URI = f"s3://{BUCKET}/runs"
OUTPUT = {"s3OutputDataConfig": {"s3Uri": S3_URI}}
LLAMA_INPUT = {"prompt": "Name three colours of the rainbow, please.", "max_gen_len": 32}
CLAUDE_INPUT = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 24,
    "messages": [{"role": "user", "content": "Name three colours of the rainbow, please."}],
}
ARN_PATTERN = r"arn:aws:bedrock:us-east-1:\d{12}:async-invoke/[a-z0-9]{12}"


@pytest.fixture
def aws() -> Iterator[tuple[BedrockMock, Any, Any]]:
    """mock_aws + mock_bedrock, an S3 bucket, and a Bedrock Runtime client (one attempt per call)."""
    with mock_aws(), mock_bedrock(seed=SEED) as handle:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield handle, make_client(max_attempts=1), s3


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[BedrockMock, Any]]:
    """mock_bedrock alone (output to ``tmp_path``): for what needs no S3, and is quicker without moto."""
    config = EmulatorConfig(async_invoke={"output": "local", "local_root": str(tmp_path)})
    with mock_bedrock(config=config, seed=SEED) as handle:
        yield handle, make_client(max_attempts=1)


def start(client: Any, model: str = LLAMA_70B, model_input: dict[str, Any] | None = None, **kwargs: Any) -> str:
    kwargs.setdefault("outputDataConfig", OUTPUT)
    response = client.start_async_invoke(modelId=model, modelInput=model_input or LLAMA_INPUT, **kwargs)
    return response["invocationArn"]


def job_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def s3_keys(s3: Any) -> list[str]:
    return sorted(obj["Key"] for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def error_of(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


# -- in-process, output to moto's S3 -----------------------------------------------------------------


def test_job_runs_through_the_engine_and_writes_the_model_response_to_moto_s3(aws: Any) -> None:
    handle, client, s3 = aws
    arn = start(client)
    assert re.fullmatch(ARN_PATTERN, arn)

    job = client.get_async_invoke(invocationArn=arn)
    assert job["status"] == "InProgress"
    assert job["modelArn"] == f"arn:aws:bedrock:us-east-1::foundation-model/{LLAMA_70B}"
    assert job["outputDataConfig"] == OUTPUT
    assert "endTime" not in job and s3_keys(s3) == []

    [record] = handle.ledger.records
    assert (record.operation, record.outcome, record.model_id) == ("StartAsyncInvoke", "ok", LLAMA_70B)
    # Still running just before the engine's finish time, done just after it.
    finish = record.latency_s
    handle.clock.sleep(finish - handle.clock.now - 0.01)
    assert client.get_async_invoke(invocationArn=arn)["status"] == "InProgress"
    handle.clock.sleep(1.0)

    job = client.get_async_invoke(invocationArn=arn)
    assert job["status"] == "Completed" and "failureMessage" not in job
    assert job["endTime"] == job["lastModifiedTime"]
    took = job["endTime"] - job["submitTime"]
    # both timestamps carry milliseconds, so the difference is exact to within 2 ms
    assert took.total_seconds() == pytest.approx(record.latency_s, abs=0.002)

    prefix = f"runs/{job_id(arn)}"
    assert s3_keys(s3) == [f"{prefix}/manifest.json", f"{prefix}/output.json"]
    output = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{prefix}/output.json")["Body"].read())
    assert output["generation"]
    assert output["generation_token_count"] == record.output_tokens > 0
    assert output["prompt_token_count"] == record.input_tokens > 0
    assert output["stop_reason"] in ("stop", "length")
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{prefix}/manifest.json")["Body"].read())
    assert manifest["invocationArn"] == arn
    assert manifest["outputs"] == [f"{S3_URI}/{job_id(arn)}/output.json"]


def test_anthropic_body_and_output_match_invoke_model(aws: Any) -> None:
    handle, client, s3 = aws
    arn = start(client, CLAUDE_HAIKU, CLAUDE_INPUT, outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}"}})
    handle.clock.sleep(30)
    assert client.get_async_invoke(invocationArn=arn)["status"] == "Completed"
    output = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{job_id(arn)}/output.json")["Body"].read())
    assert output["type"] == "message" and output["role"] == "assistant"
    assert output["content"][0]["text"]
    assert output["usage"]["output_tokens"] == handle.ledger.records[0].output_tokens


def test_an_embedding_job_writes_what_invoke_model_answers(local: Any, tmp_path: Path) -> None:
    handle, client = local
    model_input = {"inputText": "Name three colours of the rainbow.", "dimensions": 256}
    arn = start(client, "amazon.titan-embed-text-v2:0", model_input)
    handle.clock.sleep(30)
    assert client.get_async_invoke(invocationArn=arn)["status"] == "Completed"
    written = json.loads((tmp_path / BUCKET / "runs" / job_id(arn) / "output.json").read_text())
    answer = client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps(model_input))
    direct = json.loads(answer["body"].read())
    assert len(written["embedding"]) == 256
    assert written == direct  # embeddings are deterministic: the same body, the same answer


@pytest.mark.parametrize("at", ["first_byte", "completion"])
def test_a_fault_fails_the_job_and_writes_nothing(aws: Any, at: str) -> None:
    handle, client, s3 = aws
    handle.faults.inject("ServiceUnavailableException", at=at, operation="StartAsyncInvoke", times=1)
    arn = start(client)  # accepted: the fault hits the job, not the request
    handle.clock.sleep(30)
    job = client.get_async_invoke(invocationArn=arn)
    assert job["status"] == "Failed"
    assert job["failureMessage"] == "ServiceUnavailableException: Bedrock is unable to process your request."
    assert job["endTime"] > job["submitTime"]
    assert s3_keys(s3) == []
    assert [r.outcome for r in handle.ledger.records] == ["ServiceUnavailableException"]


def test_an_unwritable_bucket_fails_the_job(aws: Any) -> None:
    handle, client, s3 = aws
    arn = start(client, outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://no-such-bucket/x"}})
    handle.clock.sleep(30)
    job = client.get_async_invoke(invocationArn=arn)
    assert job["status"] == "Failed"
    assert "NoSuchBucket" in job["failureMessage"] and "s3://no-such-bucket/x/" in job["failureMessage"]


def test_admission_throttle_refuses_start_and_a_retry_starts_one_job(local: Any) -> None:
    handle, client = local
    handle.faults.inject("ThrottlingException", at="admission", operation="StartAsyncInvoke", times=1)
    assert error_of(lambda: start(client))[0] == "ThrottlingException"
    assert client.list_async_invokes()["asyncInvokeSummaries"] == []

    handle.faults.inject("ThrottlingException", at="admission", operation="StartAsyncInvoke", times=1)
    arn = start(make_client(retry_mode="standard"))  # botocore retries with the same token
    assert [s["invocationArn"] for s in client.list_async_invokes()["asyncInvokeSummaries"]] == [arn]
    assert [r.outcome for r in handle.ledger.records] == ["ThrottlingException", "ThrottlingException", "ok"]


def test_same_token_same_request_returns_the_same_job(local: Any) -> None:
    handle, client = local
    first = start(client, clientRequestToken="token-1")
    assert start(client, clientRequestToken="token-1") == first
    assert client.get_async_invoke(invocationArn=first)["clientRequestToken"] == "token-1"
    assert len(client.list_async_invokes()["asyncInvokeSummaries"]) == 1
    assert len(handle.ledger) == 1  # the replay ran no second model call
    assert start(client, clientRequestToken="token-2") != first


def test_same_token_different_request_is_a_conflict(local: Any) -> None:
    _, client = local
    start(client, clientRequestToken="token-1")
    other = {**LLAMA_INPUT, "max_gen_len": 64}
    code, message = error_of(lambda: start(client, model_input=other, clientRequestToken="token-1"))
    assert code == "ConflictException" and "clientRequestToken" in message
    code, _ = error_of(lambda: start(client, outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/o"}},
                                     clientRequestToken="token-1"))
    assert code == "ConflictException"


def test_moto_stopping_before_the_job_finishes_fails_it_without_reaching_aws() -> None:
    with mock_bedrock(seed=SEED) as handle:
        with mock_aws():
            boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
            client = make_client(max_attempts=1)
            arn = start(client)
        handle.clock.sleep(30)  # the output falls due after mock_aws has stopped
        job = client.get_async_invoke(invocationArn=arn)
    assert job["status"] == "Failed"
    assert "mock_aws was no longer active" in job["failureMessage"]


def test_reset_forgets_jobs(aws: Any) -> None:
    handle, client, s3 = aws
    arn = start(client)
    handle.reset()
    handle.clock.sleep(30)
    code, message = error_of(lambda: client.get_async_invoke(invocationArn=arn))
    assert code == "ValidationException" and arn in message
    assert s3_keys(s3) == []  # the forgotten job delivered nothing


# -- bad requests ------------------------------------------------------------------------------------


def test_unknown_model(local: Any) -> None:
    handle, client = local
    code, message = error_of(lambda: start(client, "anthropic.claude-9-opus-20990101-v1:0"))
    assert (code, message) == ("ValidationException", "The provided model identifier is invalid.")
    assert [r.outcome for r in handle.ledger.records] == ["ValidationException"]


def test_model_input_is_checked_like_an_invoke_model_body(local: Any) -> None:
    _, client = local
    code, message = error_of(lambda: start(client, model_input={"max_gen_len": 32}))  # no prompt
    assert code == "ValidationException" and "prompt" in message
    assert client.list_async_invokes()["asyncInvokeSummaries"] == []


@pytest.mark.parametrize("uri", ["https://bucket/prefix", "s3://Upper_Case", "s3://b", "s3:/bucket/x"])
def test_invalid_s3_uri(local: Any, uri: str) -> None:
    _, client = local
    code, message = error_of(lambda: start(client, outputDataConfig={"s3OutputDataConfig": {"s3Uri": uri}}))
    assert code == "ValidationException" and "outputDataConfig.s3OutputDataConfig.s3Uri" in message


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abcdef012345",  # well-formed, unknown
        "arn:aws:bedrock:us-east-1:123456789012:async-invoke/ABC",  # malformed
        "not an arn",
    ],
)
def test_unknown_or_malformed_arn(local: Any, arn: str) -> None:
    _, client = local
    code, message = error_of(lambda: client.get_async_invoke(invocationArn=arn))
    assert code == "ValidationException" and (arn in message or "invocationArn" in message)


def test_invalid_next_token(local: Any) -> None:
    _, client = local
    code, message = error_of(lambda: client.list_async_invokes(nextToken="not-a-token"))
    assert (code, message) == ("ValidationException", "The provided nextToken is not valid.")


# -- ListAsyncInvokes ---------------------------------------------------------------------------------


def test_list_filters_sorting_and_paginator(local: Any) -> None:
    handle, client = local
    done = start(client)
    handle.clock.sleep(60)  # the first job completes
    running = [start(client) for _ in range(4)]  # still in progress
    submitted = {s["invocationArn"]: s["submitTime"] for s in client.list_async_invokes()["asyncInvokeSummaries"]}

    def arns(**filters: Any) -> list[str]:
        return [s["invocationArn"] for s in client.list_async_invokes(**filters)["asyncInvokeSummaries"]]

    assert arns() == [*reversed(running), done]  # newest first by default
    assert arns(sortOrder="Ascending", sortBy="SubmissionTime") == [done, *running]
    assert arns(statusEquals="Completed") == [done]
    assert arns(statusEquals="InProgress", sortOrder="Ascending") == running
    assert arns(statusEquals="Failed") == []
    assert arns(submitTimeAfter=submitted[done], sortOrder="Ascending") == running
    assert arns(submitTimeBefore=submitted[running[0]]) == [done]
    assert arns(submitTimeAfter=submitted[running[0]], submitTimeBefore=submitted[running[3]],
                sortOrder="Ascending") == running[1:3]

    first = client.list_async_invokes(maxResults=2)
    assert [s["invocationArn"] for s in first["asyncInvokeSummaries"]] == running[:1:-1]
    assert "nextToken" in first

    paginator = client.get_paginator("list_async_invokes")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
    assert [len(page["asyncInvokeSummaries"]) for page in pages] == [2, 2, 1]
    assert [s["invocationArn"] for page in pages for s in page["asyncInvokeSummaries"]] == [*reversed(running), done]
    assert "nextToken" not in pages[-1]
    in_progress = paginator.paginate(statusEquals="InProgress", sortOrder="Ascending",
                                     PaginationConfig={"PageSize": 3}).build_full_result()
    assert [s["invocationArn"] for s in in_progress["asyncInvokeSummaries"]] == running


def test_pages_do_not_shift_when_jobs_start_in_between(local: Any) -> None:
    _, client = local
    older = [start(client) for _ in range(3)]
    page = client.list_async_invokes(maxResults=2)
    newer = start(client)
    rest = client.list_async_invokes(maxResults=2, nextToken=page["nextToken"])
    assert [s["invocationArn"] for s in rest["asyncInvokeSummaries"]] == [older[0]]
    assert newer not in [s["invocationArn"] for s in rest["asyncInvokeSummaries"]]


# -- where the output goes ----------------------------------------------------------------------------


def test_default_sink_is_a_local_directory_never_aws() -> None:
    config = AsyncInvokeConfig()
    assert choose_sink(config) == ("local", None)
    assert default_local_root().is_relative_to(Path(tempfile.gettempdir()))
    with mock_aws():
        assert choose_sink(config) == ("moto", None)
        assert choose_sink(AsyncInvokeConfig(output="local")) == ("local", None)
    assert choose_sink(AsyncInvokeConfig(s3_endpoint_url="http://127.0.0.1:5000")) == ("s3", "http://127.0.0.1:5000")
    assert choose_sink(AsyncInvokeConfig(output="s3")) == ("s3", None)  # the one explicit way to real S3


def test_local_sink_stays_inside_its_root(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path)
    assert sink.problem(S3Location.parse("s3://bucket/a/b")) is None  # type: ignore[arg-type]
    assert sink.problem(S3Location.parse("s3://bucket/../../etc")) is not None  # type: ignore[arg-type]
    sink.write(S3Location("bucket", "a"), "a/x.json", b"{}")
    assert (tmp_path / "bucket" / "a" / "x.json").read_bytes() == b"{}"


def test_in_process_without_moto_writes_to_the_local_directory(tmp_path: Path) -> None:
    config = EmulatorConfig(async_invoke={"local_root": str(tmp_path)})
    with mock_bedrock(config=config, seed=SEED) as handle:
        client = make_client(max_attempts=1)
        arn = start(client, outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://some-bucket/p/"}})
        code, _ = error_of(lambda: start(client, outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bkt/../../x"}}))
        assert code == "ValidationException"  # would climb out of the local root
        handle.clock.sleep(30)
        assert client.get_async_invoke(invocationArn=arn)["status"] == "Completed"
    output = json.loads((tmp_path / "some-bucket" / "p" / job_id(arn) / "output.json").read_text())
    assert output["generation_token_count"] == handle.ledger.records[0].output_tokens


# -- the HTTP door, output to a local directory --------------------------------------------------------


@contextlib.contextmanager
def local_server(root: Path) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(async_invoke={"output": "local", "local_root": str(root)})
    with EmulatorServer(config, seed=SEED, speed=100.0) as server:
        yield server


def wait_for(client: Any, arn: str, timeout_s: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get_async_invoke(invocationArn=arn)
        if job["status"] != "InProgress" or time.monotonic() > deadline:
            return job
        time.sleep(0.02)


def test_http_door_writes_output_to_the_local_directory(tmp_path: Path) -> None:
    with local_server(tmp_path) as server:
        client = make_client(server.endpoint_url, max_attempts=1)
        arn = start(client, CLAUDE_HAIKU, CLAUDE_INPUT)
        job = wait_for(client, arn)
        assert job["status"] == "Completed"
        assert job["endTime"] >= job["submitTime"]
        [summary] = client.list_async_invokes(statusEquals="Completed")["asyncInvokeSummaries"]
        assert summary["invocationArn"] == arn
        [record] = server.ledger.records
    folder = tmp_path / BUCKET / "runs" / job_id(arn)
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "output.json"]
    output = json.loads((folder / "output.json").read_text())
    assert output["usage"] == {"input_tokens": record.input_tokens, "output_tokens": record.output_tokens}


def test_http_door_errors_are_aws_shaped(tmp_path: Path) -> None:
    with local_server(tmp_path) as server:
        client = make_client(server.endpoint_url, max_attempts=1)
        arn = "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abcdef012345"
        code, message = error_of(lambda: client.get_async_invoke(invocationArn=arn))
        assert code == "ValidationException" and arn in message
        assert error_of(lambda: start(client, "no.such-model-v1:0"))[0] == "ValidationException"
        server.faults.inject("ModelErrorException", at="first_byte", operation="StartAsyncInvoke")
        failed = wait_for(client, start(client))
        assert failed["status"] == "Failed" and failed["failureMessage"].startswith("ModelErrorException: ")
    assert not (tmp_path / BUCKET).exists()
