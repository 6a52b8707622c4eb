"""What the emulated guardrails can see in a text: PII, profanity, harmful content, prompt attacks.

Everything here is deterministic and cheap: the same text always gets the same findings and
scores, so tests can rely on them. None of it is AWS's model, only a stand-in that behaves
plausibly.

* **PII**: regular expressions for the entity types whose form alone identifies them, with a
  checksum where there is one (Luhn for card numbers, mod-97 for IBANs). Types that need context
  or a language model (NAME, ADDRESS, AGE, PASSWORD, ...) are not detected at all.
* **Profanity**: a small list of common English swear words (with their usual inflections); the
  real managed list is not published.
* **Content categories and prompt attacks**: a keyword model. Each category has terms with a
  weight; the score of a text is ``1 - prod(1 - weight)`` over the distinct terms it contains,
  plus a jitter below 0.02 seeded by a hash of the text (so scores look measured, not tabled),
  capped at 0.999. Confidence follows from the score: >= 0.85 HIGH, >= 0.6 MEDIUM, >= 0.3 LOW,
  otherwise NONE. One strong term is HIGH on its own; a weak one is LOW until others join it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

# -- PII --------------------------------------------------------------------------------------


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: str) -> bool:
    digits = re.sub(r"\D", "", match)
    return 13 <= len(digits) <= 19 and _luhn(digits)


def _iban(match: str) -> bool:
    compact = match.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _secret_key(match: str) -> bool:
    # A 40-character base64 run is only a secret key if it looks random: mixed case and digits.
    return any(c.islower() for c in match) and any(c.isupper() for c in match) and any(c.isdigit() for c in match)


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"

# (type, pattern, validator, confidence score reported by InvokeGuardrailChecks). The order is
# the priority when two matches overlap: the earlier type keeps the text.
_PII_RULES: tuple[tuple[str, str, Callable[[str], bool] | None, float], ...] = (
    ("EMAIL", r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b", None, 0.99),
    ("URL", r"\b(?:https?://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]", None, 0.97),
    ("IP_ADDRESS", rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\.?\d)", None, 0.97),
    ("MAC_ADDRESS", r"(?<![0-9A-Fa-f:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:-])",
     None, 0.96),
    ("CREDIT_DEBIT_CARD_NUMBER", r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])", _card, 0.99),
    ("INTERNATIONAL_BANK_ACCOUNT_NUMBER", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", _iban, 0.99),
    ("US_SOCIAL_SECURITY_NUMBER", r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])", None, 0.98),
    ("AWS_ACCESS_KEY", r"(?<![A-Z0-9])(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}(?![A-Z0-9])", None, 0.98),
    ("AWS_SECRET_KEY", r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])", _secret_key, 0.85),
    ("UK_NATIONAL_INSURANCE_NUMBER",
     r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", None, 0.9),
    ("PHONE",
     r"(?<![\w+])(?:(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}|\+\d{1,3}(?:[\s.-]\d{2,5}){2,4})(?!\d)",
     None, 0.9),
)
PII_TYPES: tuple[str, ...] = tuple(rule[0] for rule in _PII_RULES)
_PII_COMPILED = [(t, re.compile(p), check, score) for t, p, check, score in _PII_RULES]


@dataclass(frozen=True)
class Span:
    """One finding in a text: ``text[start:end]`` (end exclusive)."""

    kind: str  # the PII type, or a regex filter's name
    start: int
    end: int
    match: str
    score: float = 1.0


def find_pii(text: str, types: Iterable[str]) -> list[Span]:
    """The PII of the given types in ``text``, in order, never overlapping."""
    wanted = set(types)
    found: list[tuple[int, Span]] = []
    for priority, (kind, pattern, check, score) in enumerate(_PII_COMPILED):
        if kind not in wanted:
            continue
        for m in pattern.finditer(text):
            if check is None or check(m.group(0)):
                found.append((priority, Span(kind, m.start(), m.end(), m.group(0), score)))
    return _without_overlaps(found)


def _without_overlaps(found: list[tuple[int, Span]]) -> list[Span]:
    kept: list[Span] = []
    for _, span in sorted(found, key=lambda item: (item[0], item[1].start)):
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def find_regex(text: str, name: str, pattern: str) -> list[Span]:
    # An empty match (a pattern like `x*`) finds nothing worth reporting.
    matches = _compiled(pattern).finditer(text)
    return [Span(name, m.start(), m.end(), m.group(0)) for m in matches if m.end() > m.start()]


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# -- words ------------------------------------------------------------------------------------


@cache
def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A word or phrase as a case-insensitive whole-word match; any run of spaces matches any other."""
    body = r"\s+".join(re.escape(part) for part in phrase.split())
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


_PROFANITY = re.compile(
    r"(?<!\w)(?:"
    r"(?:mother)?fuck(?:s|ed|er|ers|ing|in)?|shit(?:s|ty|ting|head)?|bullshit|bitch(?:es|y)?|bastards?|"
    r"ass(?:hole|holes|hat)|dickheads?|dicks?|cunts?|piss(?:ed)?|crap(?:py)?|damn(?:ed|it)?|goddamn|wankers?|"
    r"bollocks|twats?|pricks?"
    r")(?!\w)",
    re.IGNORECASE,
)


def find_profanity(text: str) -> list[Span]:
    return [Span("PROFANITY", m.start(), m.end(), m.group(0)) for m in _PROFANITY.finditer(text)]


# -- the keyword model ------------------------------------------------------------------------

_STRONG, _MEDIUM, _WEAK = 0.9, 0.65, 0.35

_CATEGORY_TERMS: dict[str, tuple[tuple[str, float], ...]] = {
    "VIOLENCE": (
        (r"kill(?:s|ed|ing)?", _MEDIUM), (r"murder\w*", _STRONG), (r"stab(?:s|bed|bing)?", _MEDIUM),
        (r"shoot(?:s|ing)?|shot", _MEDIUM), (r"bomb(?:s|ing)?", _MEDIUM), (r"behead\w*", _STRONG),
        (r"massacre\w*", _STRONG), (r"torture\w*", _STRONG), (r"assault\w*", _MEDIUM), (r"weapons?", _WEAK),
        (r"guns?", _WEAK), (r"blood(?:y)?", _WEAK), (r"beat (?:him|her|them|you) up", _MEDIUM),
    ),
    "HATE": (
        (r"subhumans?", _STRONG), (r"inferior (?:race|people)", _STRONG), (r"ethnic cleansing", _STRONG),
        (r"go back to your (?:own )?country", _STRONG), (r"hate (?:all|those|these) \w+", _MEDIUM),
        (r"vermin", _MEDIUM), (r"don't belong here", _WEAK), (r"those people", _WEAK),
    ),
    "INSULTS": (
        (r"idiots?", _MEDIUM), (r"moron(?:s|ic)?", _MEDIUM), (r"stupid", _WEAK), (r"dumb", _WEAK),
        (r"losers?", _WEAK), (r"pathetic", _WEAK), (r"worthless", _MEDIUM), (r"imbeciles?", _MEDIUM),
        (r"shut up", _WEAK), (r"you(?:'re| are) (?:an? )?(?:idiot|moron|useless|joke)", _STRONG),
    ),
    "SEXUAL": (
        (r"porn\w*", _STRONG), (r"explicit sex\w*", _STRONG), (r"nudes?|naked", _MEDIUM), (r"erotic\w*", _MEDIUM),
        (r"sex(?:ual|y)?", _WEAK), (r"strip(?:per|tease)", _MEDIUM), (r"nsfw", _MEDIUM),
    ),
    "MISCONDUCT": (
        (r"how (?:do i |to )?(?:steal|shoplift)", _STRONG), (r"launder(?:ing)? money|money laundering", _STRONG),
        (r"hack into", _STRONG), (r"(?:make|cook|synthesi[sz]e) (?:meth|drugs|explosives)", _STRONG),
        (r"counterfeit\w*", _MEDIUM), (r"evade (?:taxes|the police)", _MEDIUM), (r"fraud\w*", _WEAK),
        (r"pick a lock", _MEDIUM), (r"phishing", _MEDIUM), (r"steal(?:ing)?", _WEAK), (r"bribe\w*", _WEAK),
    ),
    # Prompt attacks: the three categories InvokeGuardrailChecks reports.
    "JAILBREAK": (
        (r"ignore (?:all )?(?:your |the )?(?:previous|prior|earlier) (?:instructions|rules|prompts?)", _STRONG),
        (r"you are now DAN|do anything now", _STRONG), (r"developer mode", _MEDIUM),
        (r"without (?:any )?(?:restrictions|filters|rules|limits)", _MEDIUM),
        (r"pretend (?:that )?you (?:have no|are not bound by|don't have) (?:rules|restrictions|guidelines)", _STRONG),
        (r"jailbreak\w*", _MEDIUM), (r"no longer bound by", _MEDIUM),
    ),
    "PROMPT_INJECTION": (
        (r"ignore (?:all )?(?:of )?the (?:above|text above)", _STRONG),
        (r"disregard (?:all )?(?:previous|prior|the above|your) (?:instructions|directions|rules)?", _STRONG),
        (r"forget (?:all )?(?:your|the|previous) instructions", _STRONG), (r"new instructions\s*:", _MEDIUM),
        (r"system override", _STRONG), (r"instead,? (?:output|print|say|respond with)", _MEDIUM),
    ),
    "PROMPT_LEAKAGE": (
        (r"(?:reveal|show|print|repeat|tell me|output) (?:me )?(?:your|the) (?:system|initial|original|hidden) "
         r"(?:prompt|instructions)", _STRONG),
        (r"what (?:is|are|were) your (?:system prompt|instructions)", _STRONG),
        (r"repeat (?:the|all) (?:text|words) above", _STRONG), (r"system prompt", _MEDIUM),
        (r"(?:verbatim|word for word)", _WEAK),
    ),
}
PROMPT_ATTACK_CATEGORIES = ("JAILBREAK", "PROMPT_INJECTION", "PROMPT_LEAKAGE")
_TERMS = {
    category: tuple((re.compile(rf"(?<!\w)(?:{term})(?!\w)", re.IGNORECASE), weight) for term, weight in terms)
    for category, terms in _CATEGORY_TERMS.items()
}
_CONFIDENCE = ((0.85, "HIGH"), (0.6, "MEDIUM"), (0.3, "LOW"))
_RANK = {"NONE": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3}


def score(text: str, category: str) -> float:
    """Severity of ``text`` in ``category`` (a content category or a prompt-attack one), 0..0.999."""
    miss = 1.0
    for pattern, weight in _TERMS[category]:
        if pattern.search(text):
            miss *= 1.0 - weight
    digest = hashlib.blake2b(f"{category}\0{text}".encode(), digest_size=4).digest()
    jitter = int.from_bytes(digest, "big") / 2**32 * 0.02
    return round(min(0.999, 1.0 - miss + jitter), 4)


def confidence(value: float) -> str:
    for threshold, name in _CONFIDENCE:
        if value >= threshold:
            return name
    return "NONE"


def blocks_at(strength: str, found: str) -> bool:
    """A filter of ``strength`` acts on content of confidence ``found``: HIGH strength catches LOW
    confidence and up, MEDIUM catches MEDIUM and up, LOW only HIGH, NONE nothing."""
    return strength != "NONE" and found != "NONE" and _RANK[found] >= 4 - _RANK[strength]
