"""Testing the answer service against the emulator, as a user of bedrock-chaos would."""

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from chaos import capacity_shortage, model_timeout, throttle_storm
from emulator import mock_bedrock
from examples.answer_service import AnswerService


@pytest.fixture
def bedrock():
    with mock_bedrock(seed=7) as handle:
        yield handle


def service(mode: str = "standard") -> AnswerService:
    client = boto3.client("bedrock-runtime", region_name="us-east-1", config=Config(retries={"mode": mode}))
    return AnswerService(client, max_output_tokens=64)


def test_answers_from_the_model_within_the_token_cap(bedrock):
    answer = service().answer("What is our refund policy?")
    assert answer.source == "model"
    assert 0 < answer.output_tokens <= 64
    assert bedrock.ledger.records[-1].outcome == "ok"


def test_a_throttle_storm_is_absorbed_by_sdk_retries(bedrock):
    bedrock.faults.add(throttle_storm(probability=1.0, times=2))
    answer = service().answer("What is our refund policy?")
    assert answer.source == "model"
    assert [r.outcome for r in bedrock.ledger.records] == ["ThrottlingException", "ThrottlingException", "ok"]


def test_falls_back_to_the_cache_when_capacity_runs_out(bedrock):
    svc = service()
    first = svc.answer("What is our refund policy?")
    bedrock.faults.add(capacity_shortage(probability=1.0))
    again = svc.answer("What is our refund policy?")
    assert again.source == "cache" and again.text == first.text
    # the SDK tried three times (standard mode) before the service fell back
    assert [r.outcome for r in bedrock.ledger.records[1:]] == ["ServiceUnavailableException"] * 3


def test_a_model_timeout_is_not_retried_and_not_hidden(bedrock):
    bedrock.faults.add(model_timeout())
    with pytest.raises(ClientError) as raised:
        service().answer("Summarise the incident report.")
    assert raised.value.response["Error"]["Code"] == "ModelTimeoutException"
    assert len(bedrock.ledger) == 1
