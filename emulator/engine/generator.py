"""Seeded output: how long an answer is, and its text.

The length is drawn when the request is scheduled (the engine needs it for timing); the text is
rendered only when a transport asks for it, from a generator seeded the same way, so large
simulations pay nothing for text nobody reads.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from emulator.engine.tokens import count_tokens, piece_tokens
from emulator.engine.toolgen import ToolCall, ToolDef, make_call

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


# -- tool calls and stop sequences -------------------------------------------------------------------

TOOL_CALL_P = 0.5  # toolChoice auto, last user turn not a tool result: how often the model calls a tool
PREAMBLE_P = 0.5  # Claude on auto: how often a tool call follows a short text preamble
STOP_SEQUENCE_P = 0.5  # a request with stop sequences: how often the answer runs into one
_PREAMBLES = (
    "I'll use the {name} tool for this.",
    "Let me call {name} to find out.",
    "To answer that, I'll call the {name} tool.",
)
# One tokenizer piece with the whitespace before it, so pieces keep their token counts exactly.
_SPACED_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])")


@dataclass
class Answer:
    """What an attempt answers: its length, why it stopped, its text (lazy) and any tool call."""

    tokens: int
    stop_reason: str
    pieces: Callable[[], list[str]]
    stop_sequence: str | None = None
    tool_call: ToolCall | None = None


def phrase_pieces(text: str) -> list[str]:
    """Fixed text as generator pieces: each one a tokenizer piece with its leading spacing."""
    return _SPACED_PIECE.findall(text)


def choose_tool(
    rng: random.Random, tools: Sequence[ToolDef], choice: str, name: str | None, after_tool_result: bool
) -> ToolDef | None:
    """The tool the model calls, or None for a text answer, as ``toolChoice`` allows."""
    if not tools or choice == "none":
        return None
    if choice == "tool":
        return next((t for t in tools if t.name == name), None)
    # auto: after a tool result the model answers the user; otherwise it may call a tool.
    if choice == "auto" and (after_tool_result or rng.random() >= TOOL_CALL_P):
        return None
    return rng.choice(list(tools))


def cut_at_stop(
    pieces: list[str], stops: Sequence[str], rng: random.Random | None
) -> tuple[list[str], str | None]:
    """The pieces before the first stop sequence, and which one it was (None: no stop).

    A stop sequence that the text contains stops it there. With ``rng``, the model may also
    (seeded) produce one of the stop sequences at a word boundary; the earlier stop wins. The
    stop sequence itself is never part of the output.
    """
    stops = [s for s in stops if s]
    if not stops:
        return pieces, None
    text = "".join(pieces)
    at, matched = len(text) + 1, None
    for stop in stops:
        found = text.find(stop)
        if 0 <= found < at:
            at, matched = found, stop
    if rng is not None and len(pieces) >= 2 and rng.random() < STOP_SEQUENCE_P:
        boundary = rng.randint(1, len(pieces) - 1)
        chosen = rng.choice(stops)
        offset = sum(len(p) for p in pieces[:boundary])
        if offset < at:
            at, matched = offset, chosen
    if matched is None:
        return pieces, None
    out: list[str] = []
    done = 0
    for piece in pieces:
        if done + len(piece) <= at:
            out.append(piece)
            done += len(piece)
            continue
        if at > done:
            out.append(piece[: at - done])
        break
    return out, matched


def pieces_tokens(pieces: list[str]) -> int:
    return sum(count_tokens(p) for p in pieces)


def plan_answer(
    *,
    text_rng: Callable[[], random.Random],
    salted_rng: Callable[[bytes], random.Random],
    drawn: tuple[int, str],
    max_tokens: int,
    tools: Sequence[ToolDef] = (),
    tool_choice: str = "auto",
    tool_name: str | None = None,
    after_tool_result: bool = False,
    preamble: bool = False,
    stop_sequences: Sequence[str] = (),
) -> Answer:
    """A text answer or a tool call, decided at dispatch from the attempt's own seeded streams.

    ``drawn`` is the text length already drawn for the attempt. Text stays lazy unless stop
    sequences are given: then it is rendered now, since where it stops decides its length.
    """
    tool_rng = salted_rng(b"|tools")
    tool = choose_tool(tool_rng, tools, tool_choice, tool_name, after_tool_result)
    if tool is not None:
        call = make_call(tool, tool_rng)
        intro: list[str] = []
        if preamble and tool_choice == "auto" and tool_rng.random() < PREAMBLE_P:
            intro = phrase_pieces(tool_rng.choice(_PREAMBLES).format(name=tool.name))
        cut, matched = cut_at_stop(intro, stop_sequences, None)
        if matched is not None:  # the preamble ran into a stop sequence: no call follows
            return Answer(pieces_tokens(cut), "stop_sequence", lambda: cut, stop_sequence=matched)
        total = pieces_tokens(intro) + call.tokens
        # A call that does not fit in max_tokens would be cut off half-written; the emulator
        # answers with text up to max_tokens instead, so a client never sees a partial call.
        if total <= max_tokens:
            return Answer(total, "tool_use", lambda: intro, tool_call=call)
        drawn = (max_tokens, "max_tokens")
    tokens, stop = drawn
    if not [s for s in stop_sequences if s]:
        return Answer(tokens, stop, lambda: render_text(text_rng(), tokens))
    full = render_text(text_rng(), tokens)
    cut, matched = cut_at_stop(full, stop_sequences, salted_rng(b"|stop"))
    if matched is None:
        return Answer(tokens, stop, lambda: full)
    return Answer(pieces_tokens(cut), "stop_sequence", lambda: cut, stop_sequence=matched)
