"""Meta Llama 3.x bodies for InvokeModel and InvokeModelWithResponseStream."""

from __future__ import annotations

from typing import Any

from emulator.catalog import ModelSpec
from emulator.codecs.anthropic import invocation_metrics
from emulator.codecs.prompt import Prompt, stop_or_length
from emulator.codecs.schema import BodySchema, load_body
from emulator.codecs.stream import StreamEvent, deltas
from emulator.engine.engine import Call

SCHEMA = BodySchema(
    {
        "type": "object",
        "required": ["prompt"],
        "additionalProperties": False,
        "properties": {
            "prompt": {"type": "string"},
            "temperature": {"type": "number", "minimum": 0, "maximum": 1},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "max_gen_len": {"type": "integer", "minimum": 1, "maximum": 2048},
            "images": {"type": "array", "items": {"type": "string"}},
        },
    }
)
DEFAULT_MAX_GEN_LEN = 512  # Meta's documented default on Bedrock


def parse(raw: bytes, model: ModelSpec) -> Prompt:
    body = load_body(raw)
    SCHEMA.check(body)
    prompt = Prompt(
        max_tokens=min(body.get("max_gen_len", DEFAULT_MAX_GEN_LEN), model.max_output_tokens),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
    )
    prompt.turns.append(("user", body["prompt"]))
    return prompt


def _stop(call: Call) -> str:
    return stop_or_length(call.outcome.stop_reason)  # type: ignore[union-attr]


def response(call: Call) -> dict[str, Any]:
    outcome = call.outcome
    assert outcome is not None
    return {
        "generation": outcome.text,
        "prompt_token_count": call.record.input_tokens,
        "generation_token_count": outcome.output_tokens,
        "stop_reason": _stop(call),
    }


def stream_chunks(call: Call) -> list[StreamEvent]:
    outcome = call.outcome
    assert outcome is not None
    events = []
    first = True
    for text, done in deltas(outcome.pieces()):
        events.append(StreamEvent(done, "chunk", {
            "generation": text,
            "prompt_token_count": call.record.input_tokens if first else None,
            "generation_token_count": done,
            "stop_reason": None,
        }, content=True))
        first = False
    events.append(StreamEvent(outcome.output_tokens, "chunk", {
        "generation": "",
        "prompt_token_count": None,
        "generation_token_count": outcome.output_tokens,
        "stop_reason": _stop(call),
        "amazon-bedrock-invocationMetrics": invocation_metrics(call),
    }))
    return events
