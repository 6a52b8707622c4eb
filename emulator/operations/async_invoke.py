"""StartAsyncInvoke, GetAsyncInvoke and ListAsyncInvokes.

A job is the model family's InvokeModel run through the engine (admission, fleet, latency,
ledger, faults; its ledger and fault ``operation`` is ``StartAsyncInvoke``), so an admission
throttle refuses StartAsyncInvoke itself while any later fault fails the job. At the engine time
the call finishes, the response body is written to ``<s3Uri>/<job id>/output.json``, next to a
``manifest.json``: AWS documents one folder per invocation id holding ``manifest.json`` and the
output, but not the manifest's fields, so ours (ARN, model, output URI, token counts) is the
emulator's own. Where the output goes is ``async_output``'s business (local directory, moto's S3,
a configured endpoint).

Choices where AWS is silent or differs per model:

* an unknown but well-formed invocation ARN is a ``ValidationException`` (GetAsyncInvoke models
  no ResourceNotFoundException);
* ListAsyncInvokes sorts newest first unless ``sortOrder=Ascending``, returns at most 100 per
  page unless ``maxResults`` says otherwise, and ``submitTimeAfter``/``Before`` are strict;
* any catalogue model with an InvokeModel codec may run async (AWS allows only a few); a
  Failed job writes nothing;
* Get and List take ``async_invoke.api_latency_s`` (so a poll loop moves a virtual clock on),
  are never throttled and leave no ledger record: the ledger counts model runs;
* ``kmsKeyId`` and ``bucketOwner`` are echoed, not applied.
"""

from __future__ import annotations

import base64
import binascii
import json
import weakref
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from emulator.async_output import OutputSink, S3Location, choose_sink, make_sink
from emulator.catalog import ModelSpec
from emulator.codecs import codec_for
from emulator.engine.async_jobs import AsyncJob, JobStore
from emulator.engine.engine import Call, Engine, Invocation
from emulator.operations import inference
from emulator.operations.base import Exchange, error_response, json_response
from emulator.wire.errors import BedrockError, validation

if TYPE_CHECKING:
    from emulator.core import Emulator

OPERATIONS = ("StartAsyncInvoke", "GetAsyncInvoke", "ListAsyncInvokes")
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account, so ARNs line up with moto-made resources
DEFAULT_PAGE_SIZE = 100
OUTPUT_FILE = "output.json"
MANIFEST_FILE = "manifest.json"
CONFLICT = (
    "The clientRequestToken was already used for a StartAsyncInvoke request with different "
    "parameters."
)

# One job store per engine: ``Emulator.reset`` builds a new engine, and with it forgets the jobs.
_STORES: weakref.WeakKeyDictionary[Engine, JobStore] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class _Delivery:
    location: S3Location
    sink: OutputSink
    request: Any = None  # an embedding request: its codec renders the vectors from it


def handle(emulator: Emulator, operation: str, params: dict[str, Any]) -> Exchange:
    store = store_for(emulator)
    if operation == "StartAsyncInvoke":
        return _start(emulator, store, params)
    request_id = store.new_request_id()
    at = emulator.clock.now + emulator.config.async_invoke.api_latency_s
    if operation == "GetAsyncInvoke":
        body = _get(store, params["invocationArn"])
    else:
        body = _list(store, params)
    response = json_response(request_id, body, at)
    return Exchange(None, lambda: response)


def store_for(emulator: Emulator) -> JobStore:
    """The async jobs of the emulator's current engine."""
    engine = emulator.engine
    store = _STORES.get(engine)
    if store is None:
        # Weak references: the store must keep neither the emulator nor the engine alive.
        emulator_ref, engine_ref = weakref.ref(emulator), weakref.ref(engine)

        def current() -> bool:
            live = emulator_ref()
            return live is not None and live.engine is engine_ref()

        store = JobStore(emulator.clock, emulator.config.seed, _deliver, current)
        _STORES[engine] = store
    return store


# -- StartAsyncInvoke ----------------------------------------------------------------------------
def _start(emulator: Emulator, store: JobStore, params: dict[str, Any]) -> Exchange:
    model_id = params["modelId"]
    model = emulator.catalog.require(model_id)
    s3_config = params["outputDataConfig"].get("s3OutputDataConfig", {})
    location = S3Location.parse(s3_config.get("s3Uri", ""))
    if location is None:
        raise validation("The provided S3 URI is invalid: it must look like s3://bucket/prefix.")
    sink_key = choose_sink(emulator.config.async_invoke)
    sink = store.sinks.get(sink_key)
    if sink is None:
        sink = store.sinks[sink_key] = make_sink(sink_key)
    problem = sink.problem(location)
    if problem:
        raise validation(problem)
    invocation, render_request = _invocation(model_id, model, params["modelInput"])

    request = {key: params.get(key) for key in ("modelId", "modelInput", "outputDataConfig", "tags")}
    fingerprint = json.dumps(request, sort_keys=True, default=str)
    token = params.get("clientRequestToken")
    if token is not None:
        earlier = store.by_token(token)
        if earlier is not None:
            if earlier.fingerprint != fingerprint:
                raise BedrockError("ConflictException", CONFLICT)
            return _started(emulator, store.new_request_id(), earlier.arn)  # no second model run

    call = emulator.engine.submit(invocation)
    if _refused_at_admission(call):
        assert call.outcome is not None and call.outcome.error is not None
        response = error_response(call.outcome.error, call.request_id, at=call.outcome.respond_at)
        return Exchange(None, lambda: response)
    job_id = store.new_job_id()
    arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:async-invoke/{job_id}"
    store.add(
        AsyncJob(
            job_id=job_id,
            arn=arn,
            model_arn=f"arn:aws:bedrock:{REGION}::foundation-model/{model.model_id}",
            call=call,
            request=request,
            fingerprint=fingerprint,
            sequence=store.next_sequence(),
            submitted_at=emulator.clock.now,
            client_token=token,
            context=_Delivery(location, sink, render_request),
        )
    )
    return _started(emulator, call.request_id, arn)


def _invocation(model_id: str, model: ModelSpec, model_input: Any) -> tuple[Invocation, Any]:
    """The engine's view of the job, and what rendering its body needs (an embedding request).

    Exactly InvokeModel's path (codec checks and their ValidationExceptions, tools, stop
    sequences, embeddings), so a job answers what InvokeModel would; only the name differs.
    """
    body = json.dumps(model_input).encode("utf-8")
    invocation, request = inference.build_invocation("InvokeModel", {"modelId": model_id, "body": body}, model)
    return replace(invocation, operation="StartAsyncInvoke"), request


def _started(emulator: Emulator, request_id: str, arn: str) -> Exchange:
    at = emulator.clock.now + emulator.config.async_invoke.api_latency_s
    response = json_response(request_id, {"invocationArn": arn}, at)
    return Exchange(None, lambda: response)


def _refused_at_admission(call: Call) -> bool:
    """Refused before reaching the fleet (account throttle, admission fault): the caller hears it.
    Later errors fail the job instead. A refused call never got a time to first token."""
    outcome = call.outcome
    return outcome is not None and outcome.error is not None and call.record.ttft_s == 0.0


def _deliver(job: AsyncJob) -> None:
    """Write the job's output: the model's InvokeModel response body, then the manifest."""
    delivery: _Delivery = job.context
    call = job.call
    codec = codec_for(call.invocation.model)
    body = codec.response(call) if delivery.request is None else codec.response(call, delivery.request)
    location, sink = delivery.location, delivery.sink
    sink.write(location, location.key(job.job_id, OUTPUT_FILE), json.dumps(body).encode("utf-8"))
    manifest = {
        "invocationArn": job.arn,
        "modelArn": job.model_arn,
        "outputs": [location.uri(job.job_id, OUTPUT_FILE)],
        "inputTokenCount": call.record.input_tokens,
        "outputTokenCount": call.record.output_tokens,
    }
    sink.write(location, location.key(job.job_id, MANIFEST_FILE), json.dumps(manifest).encode("utf-8"))


# -- GetAsyncInvoke and ListAsyncInvokes ------------------------------------------------------------
def _get(store: JobStore, arn: str) -> dict[str, Any]:
    job = store.get(arn)
    if job is None:
        raise validation(f"The async invocation {arn} does not exist.")
    return _summary(store, job)


def _list(store: JobStore, params: dict[str, Any]) -> dict[str, Any]:
    descending = params.get("sortOrder", "Descending") == "Descending"
    jobs = sorted(store, key=lambda job: job.sequence, reverse=descending)
    status = params.get("statusEquals")
    after, before = params.get("submitTimeAfter"), params.get("submitTimeBefore")
    if status is not None:
        jobs = [job for job in jobs if job.status == status]
    if after is not None:
        jobs = [job for job in jobs if store.unix_time(job.submitted_at) > after.timestamp()]
    if before is not None:
        jobs = [job for job in jobs if store.unix_time(job.submitted_at) < before.timestamp()]
    token = params.get("nextToken")
    if token is not None:
        # The token names the last job handed out, so jobs started meanwhile shift no page.
        last = _decode_token(token)
        jobs = [job for job in jobs if (job.sequence < last if descending else job.sequence > last)]
    size = params.get("maxResults", DEFAULT_PAGE_SIZE)
    page = jobs[:size]
    body: dict[str, Any] = {"asyncInvokeSummaries": [_summary(store, job) for job in page]}
    if len(jobs) > size:
        body["nextToken"] = _encode_token(page[-1].sequence)
    return body


def _summary(store: JobStore, job: AsyncJob) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "invocationArn": job.arn,
        "modelArn": job.model_arn,
        "status": job.status,
        "submitTime": _iso(store.unix_time(job.submitted_at)),
        "lastModifiedTime": _iso(store.unix_time(job.last_modified_at)),
        "outputDataConfig": job.request["outputDataConfig"],
    }
    if job.client_token is not None:
        summary["clientRequestToken"] = job.client_token
    if job.failure is not None:
        summary["failureMessage"] = job.failure
    if job.ended_at is not None:
        summary["endTime"] = _iso(store.unix_time(job.ended_at))
    return summary


def _iso(unix_time: float) -> str:
    return datetime.fromtimestamp(unix_time, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _encode_token(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"async-invoke:{sequence}".encode()).decode("ascii")


def _decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
        prefix, _, sequence = text.partition(":")
        if prefix != "async-invoke" or not sequence.isdigit():
            raise ValueError(text)
        return int(sequence)
    except (ValueError, UnicodeError, binascii.Error):
        raise validation("The provided nextToken is not valid.") from None
