"""Request and response formats: Converse, and the native InvokeModel body of each model family.

Each codec turns its wire body into a neutral ``Prompt`` and renders a finished ``Outcome`` back
into its own response body or stream events.
"""

from __future__ import annotations

from types import ModuleType

from emulator.catalog import ModelSpec
from emulator.codecs import anthropic, llama
from emulator.wire.errors import validation

# InvokeModel body formats by model family. Converse needs none: it is model-agnostic.
FAMILY_CODECS: dict[str, ModuleType] = {"anthropic": anthropic, "meta": llama}


def codec_for(model: ModelSpec) -> ModuleType:
    """The module with ``parse``, ``response`` and ``stream_chunks`` for the model's body format."""
    codec = FAMILY_CODECS.get(model.family)
    if codec is None:
        raise validation(
            f"InvokeModel bodies of the {model.family} family are not emulated yet; use Converse "
            f"with {model.model_id}."
        )
    return codec
