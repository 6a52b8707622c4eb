"""Amazon Titan Text bodies (express, lite, premier) for InvokeModel and its stream."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from emulator.catalog import ModelSpec
from emulator.codecs.anthropic import invocation_metrics
from emulator.codecs.prompt import Prompt
from emulator.codecs.schema import BodySchema, load_body
from emulator.codecs.stream import StreamEvent, deltas
from emulator.engine.engine import Call

DEFAULT_MAX_TOKEN_COUNT = 512  # AWS's documented default for every Titan Text model


@lru_cache(maxsize=8)
def schema(max_token_count: int) -> BodySchema:
    """The body schema; ``maxTokenCount``'s ceiling is the model's (4096, 8192 or 3072)."""
    return BodySchema(
        {
            "type": "object",
            "required": ["inputText"],
            "additionalProperties": False,
            "properties": {
                "inputText": {"type": "string"},
                "textGenerationConfig": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
                        "topP": {"type": "number", "minimum": 0, "maximum": 1},
                        "maxTokenCount": {"type": "integer", "minimum": 0, "maximum": max_token_count},
                        "stopSequences": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        }
    )


def parse(raw: bytes, model: ModelSpec) -> Prompt:
    """A Titan Text body -> Prompt, or the Malformed input request error."""
    body = load_body(raw)
    schema(model.max_output_tokens).check(body)
    config = body.get("textGenerationConfig") or {}
    # AWS documents 0 as the minimum; the engine always generates at least one token.
    max_tokens = max(1, config.get("maxTokenCount", DEFAULT_MAX_TOKEN_COUNT))
    prompt = Prompt(max_tokens=max_tokens, temperature=config.get("temperature"), top_p=config.get("topP"))
    prompt.turns.append(("user", body["inputText"]))
    prompt.stop_sequences = list(config.get("stopSequences") or [])
    return prompt


def completion_reason(call: Call) -> str:
    stop = call.outcome.stop_reason  # type: ignore[union-attr]
    if stop == "max_tokens":
        return "LENGTH"
    if stop == "stop_sequence":  # the docs' name for it (UNCONFIRMED against a capture)
        return "STOP_CRITERIA_MET"
    # The docs say FINISHED; every captured real response says FINISH (bedrock-wire.md 6.2, 11.5).
    return "FINISH"


def response(call: Call) -> dict[str, Any]:
    outcome = call.outcome
    assert outcome is not None
    return {
        "inputTextTokenCount": call.record.input_tokens,
        "results": [
            {
                "tokenCount": outcome.output_tokens,
                "outputText": outcome.text,
                "completionReason": completion_reason(call),
            }
        ],
    }


def stream_chunks(call: Call) -> list[StreamEvent]:
    """One chunk per delta; the input count rides on the first, the totals on the last."""
    outcome = call.outcome
    assert outcome is not None
    parts = deltas(outcome.pieces()) or [("", outcome.output_tokens)]
    events = []
    for i, (text, done) in enumerate(parts):
        last = i == len(parts) - 1
        payload: dict[str, Any] = {
            "outputText": text,
            "index": 0,
            "totalOutputTextTokenCount": outcome.output_tokens if last else None,
            "completionReason": completion_reason(call) if last else None,
            "inputTextTokenCount": call.record.input_tokens if i == 0 else None,
        }
        if last:
            payload["amazon-bedrock-invocationMetrics"] = invocation_metrics(call)
        # The last chunk is not a content event, so a mid-stream break always has one to replace.
        events.append(StreamEvent(done, "chunk", payload, content=not last))
    return events
