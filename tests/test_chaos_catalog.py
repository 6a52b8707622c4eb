"""The named faults of the chaos catalogue, against a real boto3 client."""

from __future__ import annotations

import pytest
from botocore.exceptions import EventStreamError

from chaos import broken_stream, capacity_shortage, cold_model, model_error, model_timeout, throttle_storm
from tests.conftest import LLAMA_70B, make_client

MESSAGES = [{"role": "user", "content": [{"text": "Tell me about quotas."}]}]


@pytest.mark.parametrize(
    "fault, code, attempts",
    [
        (throttle_storm(probability=1.0), "ThrottlingException", 3),
        (capacity_shortage(probability=1.0), "ServiceUnavailableException", 3),
        (cold_model(times=5), "ModelNotReadyException", 3),
        (model_timeout(), "ModelTimeoutException", 1),
        (model_error(), "ModelErrorException", 1),
    ],
)
def test_each_fault_surfaces_as_the_service_would(mock, fault, code, attempts) -> None:
    mock.faults.add(fault)
    client = make_client()
    with pytest.raises(getattr(client.exceptions, code)):
        client.converse(modelId=LLAMA_70B, messages=MESSAGES)
    assert [r.outcome for r in mock.ledger.records] == [code] * attempts


def test_broken_stream_delivers_part_of_the_answer_first(mock) -> None:
    mock.faults.add(broken_stream(after_events=3))
    stream = make_client().converse_stream(modelId=LLAMA_70B, messages=MESSAGES)["stream"]
    deltas = []
    with pytest.raises(EventStreamError) as raised:
        for event in stream:
            if "contentBlockDelta" in event:
                deltas.append(event["contentBlockDelta"]["delta"]["text"])
    assert len(deltas) == 3
    assert raised.value.response["Error"]["Code"] == "modelStreamErrorException"
