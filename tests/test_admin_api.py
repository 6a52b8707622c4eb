"""The admin API under /_emulator/: faults over HTTP reach a boto3 client; bad input is refused."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import LLAMA_70B, Door

MESSAGES = [{"role": "user", "content": [{"text": "Is the cap per account?"}]}]


def test_fault_posted_over_http_reaches_the_client(http_door: Door) -> None:
    base = http_door.endpoint_url
    posted = requests.post(base + "/_emulator/faults", json={"code": "ServiceUnavailableException", "times": 1},
                           timeout=5)
    assert posted.status_code == 200
    assert posted.json()["faults"][0]["code"] == "ServiceUnavailableException"
    client = http_door.client(max_attempts=1)
    with pytest.raises(client.exceptions.ServiceUnavailableException) as raised:
        client.converse(modelId=LLAMA_70B, messages=MESSAGES)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    # spent after one hit: the next call succeeds
    assert client.converse(modelId=LLAMA_70B, messages=MESSAGES)["stopReason"] in ("end_turn", "max_tokens")
    listed = requests.get(base + "/_emulator/faults", timeout=5).json()["faults"]
    assert listed[0]["hits"] == 1
    assert requests.delete(base + "/_emulator/faults", timeout=5).json() == {"faults": []}


@pytest.mark.parametrize(
    "body, words",
    [
        ({"code": "NoSuchException"}, "unknown error code"),
        ({"code": "ThrottlingException", "at": "sometime"}, "unknown fault point"),
        ({"code": "ThrottlingException", "probability": 3}, "probability"),
        ({"code": "ThrottlingException", "colour": "red"}, "colour"),
        (["ThrottlingException"], "JSON object"),
    ],
)
def test_bad_fault_is_a_validation_error_and_changes_nothing(http_door: Door, body: object, words: str) -> None:
    base = http_door.endpoint_url
    response = requests.post(base + "/_emulator/faults", json=body, timeout=5)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"].startswith("ValidationException")
    assert words in response.json()["message"]
    assert requests.get(base + "/_emulator/faults", timeout=5).json()["faults"] == []


def test_malformed_fault_json_is_refused(http_door: Door) -> None:
    response = requests.post(http_door.endpoint_url + "/_emulator/faults", data=b"{not json", timeout=5)
    assert response.status_code == 400
    assert "Invalid fault" in response.json()["message"]


def test_ledger_over_http_matches_python(http_door: Door) -> None:
    client = http_door.client()
    client.converse(modelId=LLAMA_70B, messages=MESSAGES, inferenceConfig={"maxTokens": 5})
    over_http = requests.get(http_door.endpoint_url + "/_emulator/ledger", timeout=5).json()
    assert over_http["records"] == http_door.ledger.to_dicts()
    assert over_http["totals"]["outcomes"] == {"ok": 1}


def test_a_listed_fault_can_be_posted_back(http_door: Door) -> None:
    base = http_door.endpoint_url
    requests.post(base + "/_emulator/faults", json={"code": "ThrottlingException", "times": 3}, timeout=5)
    listed = requests.get(base + "/_emulator/faults", timeout=5).json()["faults"]
    requests.delete(base + "/_emulator/faults", timeout=5)
    again = requests.post(base + "/_emulator/faults", json=listed[0], timeout=5)
    assert again.status_code == 200
    assert again.json()["faults"][0]["times"] == 3


def test_a_misspelled_fault_field_is_named(http_door: Door) -> None:
    response = requests.post(http_door.endpoint_url + "/_emulator/faults",
                             json={"code": "ThrottlingException", "probabilty": 0.5}, timeout=5)
    assert response.status_code == 400
    assert "unknown field(s) probabilty" in response.json()["message"]


def test_server_client_helper_talks_to_the_server(server) -> None:
    server.reset()
    reply = server.client(retries={"total_max_attempts": 1}).converse(modelId=LLAMA_70B, messages=MESSAGES)
    assert reply["usage"]["inputTokens"] == server.ledger.records[-1].input_tokens


@pytest.mark.parametrize(
    "field, value",
    [("times", "2"), ("after_events", "2"), ("model", 5), ("probability", True), ("times", -1)],
)
def test_fault_fields_of_the_wrong_type_are_refused(http_door: Door, field: str, value: object) -> None:
    response = requests.post(http_door.endpoint_url + "/_emulator/faults",
                             json={"code": "ThrottlingException", "at": "first_byte", field: value}, timeout=5)
    assert response.status_code == 400
    assert field in response.json()["message"]
    # and nothing was added that could break later requests
    client = http_door.client(max_attempts=1)
    assert client.converse(modelId=LLAMA_70B, messages=MESSAGES)["usage"]["outputTokens"] > 0
