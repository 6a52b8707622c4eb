"""A deterministic stand-in tokenizer.

Every word or punctuation mark is a piece; a piece costs one token per started four characters
(close to the ~4 characters per token of real BPE tokenizers on English). Counting is additive
over pieces, so the generator can build text of an exact token count, and CountTokens, the
``usage`` block and the billing always agree.
"""

from __future__ import annotations

import re

_PIECE = re.compile(r"\w+|[^\w\s]")

# Framing tokens a chat template adds per message (role markers) and per request.
PER_MESSAGE_OVERHEAD = 3
PER_REQUEST_OVERHEAD = 3


def piece_tokens(piece: str) -> int:
    return (len(piece) + 3) // 4


def count_tokens(text: str) -> int:
    return sum((len(p) + 3) // 4 for p in _PIECE.findall(text))
