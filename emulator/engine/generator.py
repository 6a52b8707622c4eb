"""Seeded output: how long an answer is, and its text.

The length is drawn when the request is scheduled (the engine needs it for timing); the text is
rendered only when a transport asks for it, from a generator seeded the same way, so large
simulations pay nothing for text nobody reads.
"""

from __future__ import annotations

import hashlib
import math
import random

from emulator.engine.tokens import piece_tokens

_WORDS = (
    "the a an and or but so of to in on for with as by at from that this these those it its "
    "is are was be can will may should would could we you they one two few many more most "
    "model request token answer cache retry backoff stream latency quota limit budget cost "
    "cold warm start region profile queue load spike client server call reply error throttle "
    "fallback circuit breaker idempotent key window minute second hour day traffic user team "
    "check test plan launch review metric alarm log trace result value input output prompt "
    "context reason choice option safe fast slow small large first last next each every other "
    "when then after before while until because if so also still only just even about into "
    "through across over under between within without against during service account policy "
    "capacity throughput concurrency burst steady peak average median tail percentile "
    "deploy monitor scale tune measure compare improve reduce handle avoid keep send read write"
).split()
_ONE_TOKEN_WORDS = tuple(w for w in _WORDS if piece_tokens(w) == 1)


def request_rng(seed: int, sequence: int, prompt_digest: bytes, temperature: float) -> random.Random:
    """The generator for one attempt's answer.

    At temperature 0 the answer depends on the prompt alone (the same prompt, the same answer, on
    every retry); above it, on the emulator seed and the attempt's place in the run as well.
    """
    h = hashlib.blake2b(prompt_digest, digest_size=8)
    if temperature > 0:
        h.update(f"|{seed}|{sequence}".encode())
    return random.Random(int.from_bytes(h.digest(), "big"))


def draw_length(
    rng: random.Random, median: float, sigma: float, max_tokens: int
) -> tuple[int, str]:
    """Output tokens and the stop reason: ``end_turn``, or ``max_tokens`` when the cap cuts it."""
    wanted = max(1, round(median * math.exp(sigma * rng.gauss(0.0, 1.0))))
    if wanted >= max_tokens:
        return max_tokens, "max_tokens"
    return wanted, "end_turn"


def render_text(rng: random.Random, tokens: int) -> list[str]:
    """Text of exactly ``tokens`` tokens, as a list of pieces (each piece carries its spacing)."""
    pieces: list[str] = []
    left = tokens
    sentence_left = 0
    while left > 0:
        if sentence_left == 0 and pieces and left >= 2:
            pieces.append(".")
            left -= 1
            sentence_left = rng.randint(6, 16)
            continue
        if sentence_left == 0:
            sentence_left = rng.randint(6, 16)
        word = rng.choice(_WORDS)
        if piece_tokens(word) > left:
            word = rng.choice(_ONE_TOKEN_WORDS)
        starts_sentence = not pieces or pieces[-1] == "."
        text = word.capitalize() if starts_sentence else word
        pieces.append(text if not pieces else " " + text)
        left -= piece_tokens(word)
        sentence_left -= 1
    return pieces
