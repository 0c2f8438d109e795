"""Deterministic reply text and the simulator's token estimate.

Token estimate (used for prompts, completions, embeddings input and rate limits alike): one
token per run of word characters and one per punctuation mark, i.e. ``len(re.findall(r"\\w+|
[^\\w\\s]", text))``. Real BPE tokenizers give about 1.3 tokens per English word; this is
simpler, stable and documented, which is what a test double needs. Chat prompts add 3 tokens
per message and 3 for the reply primer, as OpenAI's cookbook counts them.

Replies are template sentences seeded by a hash of the prompt, so the same prompt always gets
the same reply, and a reply's pieces (what a stream sends one per chunk) re-count to exactly
the completion token count.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re

_TOKEN = re.compile(r"\w+|[^\w\s]")
TOKENS_PER_MESSAGE = 3
REPLY_PRIMER_TOKENS = 3

_ADJECTIVES = (
    "quick", "careful", "simple", "useful", "steady", "clear", "small", "large", "recent",
    "common", "reliable", "gentle", "bright", "quiet", "modern", "early", "final", "basic",
)
_NOUNS = (
    "request", "answer", "model", "system", "network", "team", "river", "garden", "library",
    "city", "engine", "report", "method", "window", "signal", "record", "process", "question",
    "result", "pattern", "gateway", "server", "message", "idea", "road", "market", "plan",
)
_VERBS = (
    "explains", "follows", "supports", "changes", "measures", "describes", "improves", "checks",
    "connects", "reaches", "shapes", "keeps", "builds", "carries", "records", "answers",
)
_ADVERBS = ("often", "usually", "quietly", "clearly", "rarely", "always", "simply", "soon")
_PREPOSITIONS = ("with", "for", "through", "across", "near", "after", "before", "under", "about")
_OPENERS = ("In short", "Of course", "As a rule", "In practice", "For example", "Overall")

# Slot codes: A adjective, N noun, V verb, D adverb, P preposition, O opener + comma.
_TEMPLATES = (
    "the A N V the N .",
    "O the N D V a A N .",
    "a A N V the N P the A N .",
    "the N V the A N , and the N D V it .",
    "O a N P the N V the N .",
    "each A N V a N P the N .",
)
_SLOTS = {"A": _ADJECTIVES, "N": _NOUNS, "V": _VERBS, "D": _ADVERBS, "P": _PREPOSITIONS}


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def seed_of(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def _sentence(rng: random.Random) -> list[str]:
    words: list[str] = []
    for slot in rng.choice(_TEMPLATES).split():
        if slot == "O":
            words.extend(rng.choice(_OPENERS).split())
            words.append(",")
        elif slot in _SLOTS:
            words.append(rng.choice(_SLOTS[slot]))
        else:
            words.append(slot)
    words[0] = words[0].capitalize()
    return words


@functools.lru_cache(maxsize=4096)
def compose(seed: int, length: int | None = None) -> tuple[str, ...]:
    """Reply pieces for ``seed``: whole sentences (1 to 4 of them) when ``length`` is None,
    else exactly ``length`` pieces. Each piece is one token: a word with its leading space,
    or a punctuation mark; ``"".join`` gives the text."""
    rng = random.Random(seed)
    words: list[str] = []
    sentences = 1 + seed % 4
    while (length is None and sentences > 0) or (length is not None and len(words) < length):
        words.extend(_sentence(rng))
        sentences -= 1
    if length is not None:
        words = words[:length]
    return tuple(
        word if index == 0 or word in (",", ".") else " " + word for index, word in enumerate(words)
    )


def reasoning_tokens(seed: int) -> int:
    """Hidden reasoning a reasoning model "spends" before answering: 64 to 256 tokens."""
    return 64 * (1 + (seed >> 8) % 4)
