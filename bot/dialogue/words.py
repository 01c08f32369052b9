"""Deterministic phrase matching on normalised words, for topics the classifier does not name.

A phrase matches when its words appear in the text in order and next to each other, after the same
normalisation the classifier uses (Urdu letter forms, case, Roman Urdu spellings). A phrase ending in `*`
also matches longer words: `pehchan*` matches "pehchanein".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from nlu.normalize import normalize, tokens
from nlu.types import Parse


@lru_cache(maxsize=4096)
def _phrase(phrase: str) -> tuple[tuple[str, ...], bool]:
    prefix = phrase.rstrip().endswith("*")
    return tuple(tokens(normalize(phrase.rstrip().rstrip("*")))), prefix


@lru_cache(maxsize=256)
def words_of(text: str) -> tuple[str, ...]:
    """The text's normalised words."""
    return tuple(tokens(normalize(text)))


def _found(words: Sequence[str], phrase: str) -> bool:
    """Whether one phrase occurs in the words (the plain definition; `_Matcher` does the same for many
    phrases at once and is what the engine uses)."""
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


class _Matcher:
    """Many phrases, indexed once by their first word: a text's words are looked up, not every phrase
    tried at every position (the engine matched ~200 phrases per message that way: issue 23's profile).
    Single-word phrases ending in `*` match by prefix, so they are tried against each word."""

    def __init__(self, phrases: Sequence[str]) -> None:
        self.by_first: dict[str, list[tuple[int, tuple[str, ...], bool]]] = {}
        self.stems: list[tuple[int, str]] = []
        for index, phrase in enumerate(phrases):
            wanted, prefix = _phrase(phrase)
            if not wanted:
                continue
            if prefix and len(wanted) == 1:
                self.stems.append((index, wanted[0]))
            else:
                self.by_first.setdefault(wanted[0], []).append((index, wanted, prefix))

    def found(self, words: Sequence[str], all_of_them: bool) -> set[int]:
        """The indexes of the phrases that occur (the first one found only, unless `all_of_them`)."""
        hits: set[int] = set()
        for start, word in enumerate(words):
            for index, wanted, prefix in self.by_first.get(word, ()):
                end = start + len(wanted)
                if index in hits or end > len(words):
                    continue
                middle = tuple(words[start + 1 : end - 1]) == wanted[1:-1]
                last = words[end - 1]
                if middle and (last == wanted[-1] or (prefix and last.startswith(wanted[-1]))):
                    hits.add(index)
                    if not all_of_them:
                        return hits
            for index, stem in self.stems:
                if index not in hits and word.startswith(stem):
                    hits.add(index)
                    if not all_of_them:
                        return hits
        return hits


@lru_cache(maxsize=1024)
def _matcher(phrases: tuple[str, ...]) -> _Matcher:
    return _Matcher(phrases)


def score(text: str, phrases: Iterable[str]) -> int:
    """How many of the phrases occur in the text."""
    return len(_matcher(tuple(phrases)).found(words_of(text), all_of_them=True))


def any_of(text: str, phrases: Iterable[str]) -> bool:
    return bool(_matcher(tuple(phrases)).found(words_of(text), all_of_them=False))


@lru_cache(maxsize=256)
def _options_matcher(lists: tuple[tuple[str, ...], ...]) -> tuple[_Matcher, tuple[int, ...]]:
    """One matcher for the phrases of all options together, and the option each phrase belongs to."""
    phrases = [phrase for phrases in lists for phrase in phrases]
    owners = tuple(option for option, phrases in enumerate(lists) for _ in phrases)
    return _Matcher(phrases), owners


def best(text: str, options: Mapping[str, Sequence[str]]) -> str | None:
    """The option whose phrases occur most often in the text (the first on a tie); None if none does.

    Each option's score is `score(text, phrases)`, counted in one pass over the words by a matcher of all
    the options' phrases: a Learn card, a category or a language is picked among up to 18 lists, and one
    pass each was a tenth of the engine's profiled CPU."""
    names = tuple(options)
    matcher, owners = _options_matcher(tuple(tuple(phrases) for phrases in options.values()))
    scores = [0] * len(names)
    for index in matcher.found(words_of(text), all_of_them=True):
        scores[owners[index]] += 1
    top = max(scores, default=0)
    return names[scores.index(top)] if top else None


def has_words(parse: Parse) -> bool:
    """Letters outside links, @names and reference codes: the message says something of its own (the
    engine's language guess and an answer to an analysts' question both ask)."""
    said = parse.text
    for entity in sorted(parse.entities, key=lambda e: e.start, reverse=True):
        if 0 <= entity.start <= entity.end <= len(said):
            said = said[: entity.start] + " " + said[entity.end :]
    return any(ch.isalpha() for ch in said)
