"""Conformance with the installed botocore service model.

If a botocore upgrade adds an operation or an error shape, these tests fail until the emulator
handles it, so the gap is noticed rather than discovered by a user.
"""

from __future__ import annotations

import pytest

from emulator.engine.faults import Fault
from emulator.operations import HANDLERS
from emulator.wire import service
from tests.conftest import make_client

# Operations boto3 cannot call, with the reason; everything else must have a handler.
NOT_CALLABLE_FROM_BOTO3 = {
    # botocore deletes it from the Python client: it needs HTTP/2 bidirectional streaming.
    "InvokeModelWithBidirectionalStream": "invoke_model_with_bidirectional_stream",
}


def test_every_operation_of_the_model_has_a_handler() -> None:
    missing = [
        name for name in service.service_model().operation_names
        if name not in HANDLERS and name not in NOT_CALLABLE_FROM_BOTO3
    ]
    assert missing == []


def test_the_operations_without_handler_really_are_absent_from_boto3() -> None:
    client = make_client()
    for method in NOT_CALLABLE_FROM_BOTO3.values():
        assert not hasattr(client, method)


def test_unhandled_operations_get_an_aws_shaped_error(http_door) -> None:
    import requests

    url = http_door.endpoint_url + "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-bidirectional-stream"
    response = requests.post(url, data=b"{}", timeout=5)
    assert response.status_code == 404
    assert response.headers["x-amzn-ErrorType"].startswith("UnknownOperationException")
    assert "InvokeModelWithBidirectionalStream" in response.json()["message"]


@pytest.mark.parametrize("code", sorted(service.error_shapes()))
def test_every_error_shape_is_producible_and_typed_in_boto3(code: str) -> None:
    client = make_client()
    assert Fault(code).code == code
    assert issubclass(getattr(client.exceptions, code), Exception)


@pytest.mark.parametrize(
    "operation", [name for name in service.service_model().operation_names
                  if service.operation(name).has_event_stream_output and name not in NOT_CALLABLE_FROM_BOTO3]
)
def test_every_stream_exception_member_maps_to_an_error_shape(operation: str) -> None:
    members = service.stream_exception_members(operation)
    assert members and set(members) <= set(service.error_shapes())
