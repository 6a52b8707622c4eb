"""botocore's shipped ``bedrock-runtime`` service model: routes, error statuses, stream members.

Everything the wire needs to know about the API comes from here, so a botocore upgrade that
changes a URI or a status code changes the emulator with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from urllib.parse import unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel, StructureShape

SERVICE_NAME = "bedrock-runtime"


@lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model(SERVICE_NAME)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: OperationModel


def _compile(request_uri: str) -> re.Pattern[str]:
    path = request_uri.split("?", 1)[0]
    # `{label+}` is greedy (may hold '/'); a plain `{label}` is one path segment.
    regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", re.escape(path).replace(r"\{", "{").replace(r"\}", "}"))
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
    return re.compile(f"^{regex}$")


@lru_cache(maxsize=1)
def routes() -> tuple[Route, ...]:
    model = service_model()
    found = []
    for name in model.operation_names:
        op = model.operation_model(name)
        found.append(Route(op.http["method"], _compile(op.http["requestUri"]), op))
    # Literal paths first, so `/async-invoke` never loses to a labelled sibling.
    found.sort(key=lambda r: r.pattern.pattern.count("(?P<"))
    return tuple(found)


def match_route(method: str, raw_path: str) -> tuple[OperationModel, dict[str, str]] | None:
    """The operation and its percent-decoded URI labels, or None for an unknown path."""
    for route in routes():
        if route.method != method.upper():
            continue
        m = route.pattern.match(raw_path)
        if m:
            return route.operation, {k: unquote(v) for k, v in m.groupdict().items()}
    return None


def operation(name: str) -> OperationModel:
    return service_model().operation_model(name)


@cache
def error_shapes() -> dict[str, StructureShape]:
    """Every modeled error shape of the service, by code."""
    found: dict[str, StructureShape] = {}
    model = service_model()
    for name in model.operation_names:
        for shape in model.operation_model(name).error_shapes:
            found[shape.name] = shape
    return found


def error_status(code: str) -> int:
    shape = error_shapes().get(code)
    if shape is None:
        return 400
    return int(shape.metadata.get("error", {}).get("httpStatusCode", 400))


@cache
def stream_exception_members(operation_name: str) -> dict[str, str]:
    """Error code -> lowerCamel member name of the operation's event-stream union."""
    op = operation(operation_name)
    stream = op.get_event_stream_output()
    if stream is None:
        return {}
    return {
        member.name: name
        for name, member in stream.members.items()
        if member.metadata.get("exception")
    }
