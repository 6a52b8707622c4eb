"""AWS-shaped errors: the status, ``x-amzn-ErrorType`` header and JSON body botocore parses.

Messages are the ones real clients report (bedrock-wire.md section 7.3); where none was ever
captured, the first sentence of the error shape's own documentation in the service model.
"""

from __future__ import annotations

import json
import re
from typing import Any

from emulator.wire import service

# Captured from the real service (see bedrock-wire.md section 7.3 for the sources).
OBSERVED_MESSAGES = {
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "ServiceUnavailableException": "Bedrock is unable to process your request.",
    "ModelErrorException": (
        "The system encountered an unexpected error during processing. Try your request again."
    ),
    "ValidationException": "The provided model identifier is invalid.",  # = INVALID_MODEL
}
INVALID_MODEL = "The provided model identifier is invalid."

_ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"


def documented_message(code: str) -> str:
    """The first sentence of the error shape's documentation, without its HTML."""
    shape = service.error_shapes().get(code)
    doc = re.sub(r"<[^>]+>", "", shape.documentation if shape else "").strip()
    first = re.split(r"(?<=\.)\s", doc, maxsplit=1)[0]
    return first or f"{code} occurred."


def default_message(code: str) -> str:
    return OBSERVED_MESSAGES.get(code) or documented_message(code)


class BedrockError(Exception):
    """An error the emulator answers with, exactly as the service would.

    ``fields`` carries the extra modeled members, e.g. ``originalStatusCode`` and
    ``resourceName`` of ``ModelErrorException``.
    """

    def __init__(self, code: str, message: str | None = None, **fields: Any) -> None:
        self.code = code
        self.message = message if message is not None else default_message(code)
        self.fields = fields
        super().__init__(f"{code}: {self.message}")

    @property
    def status(self) -> int:
        if self.code == "UnknownOperationException":
            return 404
        return service.error_status(self.code)

    def body(self) -> bytes:
        return json.dumps({"message": self.message, **self.fields}).encode("utf-8")

    def headers(self) -> list[tuple[str, str]]:
        return [
            ("x-amzn-ErrorType", self.code + _ERROR_TYPE_SUFFIX),
            ("Content-Type", "application/json"),
        ]


def validation(message: str) -> BedrockError:
    return BedrockError("ValidationException", message)


def with_model_error_fields(code: str, model_id: str) -> dict[str, Any]:
    """Extra members a modeled error carries, so ``e.response`` holds them as on AWS."""
    if code == "ModelErrorException":
        return {"originalStatusCode": 500, "resourceName": model_id}
    if code == "ModelStreamErrorException":
        return {"originalStatusCode": 500, "originalMessage": "Model stream failed."}
    return {}
