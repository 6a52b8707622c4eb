"""Embedding bodies for InvokeModel: Amazon Titan Text Embeddings v2 and Cohere Embed v3.

Embedding models have no stream and no output tokens. Their vectors are deterministic: a hashed
bag of words (texts sharing words point the same way, so similarity search behaves plausibly)
plus a component seeded from the whole text (so different texts never share a vector).
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from emulator.catalog import ModelSpec
from emulator.codecs.prompt import IMAGE_TOKENS, Prompt
from emulator.codecs.schema import BodySchema, load_body, malformed
from emulator.engine.engine import Call
from emulator.engine.tokens import count_tokens, piece_tokens
from emulator.wire.errors import validation

# What Bedrock answers when an embedding model is asked to stream.
STREAMING_UNSUPPORTED = "The model is unsupported for streaming."

_WORD = re.compile(r"\w+")
_PIECE = re.compile(r"\w+|[^\w\s]")  # the stand-in tokenizer's pieces, for truncation
_HASHES_PER_WORD = 4
_TEXT_WEIGHT = 0.5  # the whole-text component, relative to the bag of words


@dataclass
class EmbeddingRequest(Prompt):
    """A parsed embedding body: the inputs, and how their vectors are to be returned."""

    inputs: list[str] = field(default_factory=list)  # texts (or image data URIs) to embed
    tokens: list[int] = field(default_factory=list)  # billed input tokens of each
    dimensions: int = 1024
    normalize: bool = True
    types: list[str] = field(default_factory=list)  # requested embedding types, [] if none asked
    texts: list[str] = field(default_factory=list)  # Cohere's echo of the texts
    input_type: str = ""  # Cohere: search_query, search_document, ...

    def input_tokens(self) -> int:
        # Embedding models bill the text alone: no chat template, no per-message framing.
        return sum(self.tokens)


def _utf8(text: str) -> bytes:
    # JSON may escape lone surrogates ("\\ud800"); they still need bytes to hash.
    return text.encode("utf-8", "surrogatepass")


def vector(space: str, text: str, dimensions: int, normalize: bool = True, variant: str = "") -> list[float]:
    """The embedding of ``text`` in ``space``: the same text always gets the same vector.

    ``variant`` changes only the whole-text component, so variants of a text stay close.
    """
    salt = f"{space}|{dimensions}|"
    bag = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(_utf8(salt + word), digest_size=4 * _HASHES_PER_WORD).digest()
        for k in range(_HASHES_PER_WORD):
            chunk = digest[4 * k : 4 * k + 4]
            bag[int.from_bytes(chunk[:3], "big") % dimensions] += 1.0 if chunk[3] & 1 else -1.0
    seed = hashlib.blake2b(_utf8(f"{salt}{variant}|{text}"), digest_size=8).digest()
    rng = random.Random(int.from_bytes(seed, "big"))
    noise = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    bag_norm = math.sqrt(sum(x * x for x in bag)) or 1.0
    noise_norm = math.sqrt(sum(x * x for x in noise)) or 1.0
    values = [b / bag_norm + _TEXT_WEIGHT * n / noise_norm for b, n in zip(bag, noise, strict=True)]
    if normalize:
        norm = math.sqrt(math.fsum(x * x for x in values))
        values = [x / norm for x in values]
    return values


# -- Amazon Titan Text Embeddings v2 ------------------------------------------------------------

TITAN_MAX_CHARACTERS = 50_000  # AWS's documented limit, next to 8,192 tokens

TITAN_SCHEMA = BodySchema(
    {
        "type": "object",
        "required": ["inputText"],
        "additionalProperties": False,
        "properties": {
            "inputText": {"type": "string", "minLength": 1},
            "dimensions": {"type": "integer", "enum": [256, 512, 1024]},
            "normalize": {"type": "boolean"},
            "embeddingTypes": {
                "type": "array", "minItems": 1, "items": {"type": "string", "enum": ["float", "binary"]},
            },
        },
    }
)


def titan_too_many_tokens(limit: int, count: int) -> str:
    # Titan's own wording, as client reports quote it.
    return f"400 Bad Request: Too many input tokens. Max input tokens: {limit}, request input token count: {count} "


def parse_titan(raw: bytes, model: ModelSpec) -> EmbeddingRequest:
    """A Titan Embeddings v2 body -> EmbeddingRequest, or the error Bedrock gives for it."""
    body = load_body(raw)
    TITAN_SCHEMA.check(body)
    text = body["inputText"]
    if len(text) > TITAN_MAX_CHARACTERS:
        raise malformed([f"#/inputText: expected maxLength: {TITAN_MAX_CHARACTERS}, actual: {len(text)}"])
    tokens = count_tokens(text)
    if tokens > model.context_window:
        raise validation(titan_too_many_tokens(model.context_window, tokens))
    request = EmbeddingRequest(
        inputs=[text],
        tokens=[tokens],
        dimensions=body.get("dimensions", model.dimensions),
        normalize=body.get("normalize", True),
        types=list(dict.fromkeys(body.get("embeddingTypes") or [])),
    )
    request.turns.append(("user", text))
    return request


def response_titan(call: Call, request: EmbeddingRequest) -> dict[str, Any]:
    values = vector(call.invocation.model.model_id, request.inputs[0], request.dimensions, request.normalize)
    by_type: dict[str, Any] = {}
    for kind in request.types or ["float"]:
        by_type[kind] = values if kind == "float" else [1 if x > 0 else 0 for x in values]
    return {"embedding": values, "inputTextTokenCount": call.record.input_tokens, "embeddingsByType": by_type}


# -- Cohere Embed v3 ----------------------------------------------------------------------------

COHERE_MAX_CHARACTERS = 2048  # per text, AWS's documented limit (96 texts a call)

COHERE_SCHEMA = BodySchema(
    {
        "type": "object",
        "required": ["input_type"],
        "additionalProperties": False,
        "properties": {
            "texts": {"type": "array", "maxItems": 96, "items": {"type": "string"}},
            "images": {"type": "array", "maxItems": 1, "items": {"type": "string"}},
            "input_type": {
                "type": "string",
                "enum": ["search_document", "search_query", "classification", "clustering", "image"],
            },
            "truncate": {"type": "string", "enum": ["NONE", "START", "END"]},
            "embedding_types": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "enum": ["float", "int8", "uint8", "binary", "ubinary"]},
            },
        },
    }
)


def cohere_too_long(index: int, tokens: int, limit: int) -> str:
    # No capture of this message exists; worded after Cohere's API error.
    return (
        f"Malformed input request: texts[{index}] has {tokens} tokens, more than the model's maximum "
        f"of {limit} with truncate NONE, please reformat your input and try again."
    )


def _truncated_tokens(text: str, limit: int, truncate: str, index: int) -> tuple[str, int]:
    """The text that is embedded and its token count, after ``truncate``."""
    tokens = count_tokens(text)
    if tokens <= limit:
        return text, tokens
    if truncate == "NONE":
        raise validation(cohere_too_long(index, tokens, limit))
    pieces = _PIECE.findall(text)
    if truncate == "START":
        pieces.reverse()
    kept, total = [], 0
    for piece in pieces:
        if total + piece_tokens(piece) > limit:
            break
        kept.append(piece)
        total += piece_tokens(piece)
    if truncate == "START":
        kept.reverse()
    return " ".join(kept), total


def parse_cohere(raw: bytes, model: ModelSpec) -> EmbeddingRequest:
    """A Cohere Embed v3 body -> EmbeddingRequest, or the error Bedrock gives for it."""
    body = load_body(raw)
    COHERE_SCHEMA.check(body)
    if "texts" not in body and "images" not in body:
        raise malformed(["#: required key [texts] not found"])
    texts = body.get("texts") or []
    for i, text in enumerate(texts):
        if len(text) > COHERE_MAX_CHARACTERS:
            raise malformed([f"#/texts/{i}: expected maxLength: {COHERE_MAX_CHARACTERS}, actual: {len(text)}"])
    # Bedrock's docs give NONE (an error for over-long input) as the default; Cohere's own API
    # defaults to END. The Bedrock docs are followed (UNCONFIRMED against the live service).
    truncate = body.get("truncate", "NONE")
    types = list(dict.fromkeys(body.get("embedding_types") or []))
    request = EmbeddingRequest(dimensions=model.dimensions, types=types)
    for i, text in enumerate(texts):
        kept, tokens = _truncated_tokens(text, model.context_window, truncate, i)
        request.inputs.append(kept)
        request.tokens.append(tokens)
        request.turns.append(("user", kept))
    request.texts = list(texts)
    for image in body.get("images") or []:
        # An image costs what it costs elsewhere in the emulator; its vector comes from the data URI.
        request.inputs.append(image)
        request.tokens.append(IMAGE_TOKENS)
        request.turns.append(("user", image))
    request.input_type = body["input_type"]
    request.system.append(request.input_type)
    return request


def _int8(values: list[float]) -> list[int]:
    scale = 127 / (max(abs(x) for x in values) or 1.0)
    return [max(-128, min(127, round(x * scale))) for x in values]


def _packed(values: list[float], signed: bool) -> list[int]:
    """Sign bits, eight to a byte, most significant first (Cohere's binary/ubinary)."""
    out = []
    for i in range(0, len(values), 8):
        byte = sum(1 << (7 - j) for j, x in enumerate(values[i : i + 8]) if x > 0)
        out.append(byte - 256 if signed and byte > 127 else byte)
    return out


_COHERE_TYPES = {
    "float": lambda v: v,
    "int8": _int8,
    "uint8": lambda v: [x + 128 for x in _int8(v)],
    "binary": lambda v: _packed(v, signed=True),
    "ubinary": lambda v: _packed(v, signed=False),
}


def response_cohere(call: Call, request: EmbeddingRequest) -> dict[str, Any]:
    model_id = call.invocation.model.model_id
    # Cohere v3 vectors are unit length (dot product equals cosine); there is no normalize switch.
    # A query and a document of the same text differ a little, as they do on the real model.
    vectors = [vector(model_id, text, request.dimensions, variant=request.input_type) for text in request.inputs]
    body: dict[str, Any] = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, call.request_id))}
    if request.types:
        body["embeddings"] = {kind: [_COHERE_TYPES[kind](v) for v in vectors] for kind in request.types}
        body["response_type"] = "embeddings_by_type"
    else:
        body["embeddings"] = vectors
        body["response_type"] = "embeddings_floats"
    body["texts"] = request.texts
    return body


TITAN = SimpleNamespace(parse=parse_titan, response=response_titan, embedding=True)
COHERE = SimpleNamespace(parse=parse_cohere, response=response_cohere, embedding=True)
