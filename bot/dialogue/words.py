"""Deterministic phrase matching on normalised words, for topics the classifier does not name.

A phrase matches when its words appear in the text in order and next to each other, after the same
normalisation the classifier uses (Urdu letter forms, case, Roman Urdu spellings). A phrase ending in `*`
also matches longer words: `pehchan*` matches "pehchanein".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from nlu.normalize import normalize, tokens


@lru_cache(maxsize=4096)
def _phrase(phrase: str) -> tuple[tuple[str, ...], bool]:
    prefix = phrase.rstrip().endswith("*")
    return tuple(tokens(normalize(phrase.rstrip().rstrip("*")))), prefix


@lru_cache(maxsize=256)
def words_of(text: str) -> tuple[str, ...]:
    """The text's normalised words."""
    return tuple(tokens(normalize(text)))


def _found(words: Sequence[str], phrase: str) -> bool:
    wanted, prefix = _phrase(phrase)
    if not wanted:
        return False
    size = len(wanted)
    for start in range(len(words) - size + 1):
        window = words[start : start + size]
        if tuple(window[:-1]) != wanted[:-1]:
            continue
        last = window[-1]
        if last == wanted[-1] or (prefix and last.startswith(wanted[-1])):
            return True
    return False


def score(text: str, phrases: Iterable[str]) -> int:
    """How many of the phrases occur in the text."""
    words = words_of(text)
    return sum(_found(words, phrase) for phrase in phrases)


def any_of(text: str, phrases: Iterable[str]) -> bool:
    words = words_of(text)
    return any(_found(words, phrase) for phrase in phrases)


def best(text: str, options: Mapping[str, Sequence[str]]) -> str | None:
    """The option whose phrases occur most often in the text (the first on a tie); None if none does."""
    scores = {name: score(text, phrases) for name, phrases in options.items()}
    top = max(scores.values(), default=0)
    if top == 0:
        return None
    return next(name for name, value in scores.items() if value == top)
