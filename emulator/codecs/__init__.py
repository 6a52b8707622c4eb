"""Request and response formats: Converse, and the native InvokeModel body of each model family.

Each codec turns its wire body into a neutral ``Prompt`` and renders a finished ``Outcome`` back
into its own response body or stream events. Embedding codecs (``embedding=True``) parse into an
``EmbeddingRequest`` and render with it (``response(call, request)``); they have no stream.
"""

from __future__ import annotations

from types import ModuleType, SimpleNamespace

from emulator.catalog import ModelSpec
from emulator.codecs import anthropic, cohere, embeddings, llama, mistral, nova, titan
from emulator.wire.errors import validation

Codec = ModuleType | SimpleNamespace  # anything with parse / response (/ stream_chunks)

# InvokeModel body formats, by the model's body_format or else its family. Converse needs none:
# it is model-agnostic.
FAMILY_CODECS: dict[str, Codec] = {
    "anthropic": anthropic,
    "meta": llama,
    "amazon-titan": titan,
    "amazon-nova": nova,
    "mistral": mistral.TEXT,
    "mistral-chat": mistral.CHAT,
    "cohere": cohere,
    "titan-embed": embeddings.TITAN,
    "cohere-embed": embeddings.COHERE,
}


def codec_for(model: ModelSpec) -> Codec:
    """The codec with ``parse``, ``response`` and ``stream_chunks`` for the model's body format."""
    kind = model.body_format or model.family
    codec = FAMILY_CODECS.get(kind)
    if codec is None:
        raise validation(
            f"InvokeModel bodies of the {kind} family are not emulated yet; use Converse "
            f"with {model.model_id}."
        )
    return codec
