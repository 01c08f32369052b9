"""Deterministic phrase matching on normalised words, for topics the classifier does not name.

A phrase matches when its words appear in the text in order and next to each other, after the same
normalisation the classifier uses (Urdu letter forms, case, Roman Urdu spellings). A phrase ending in `*`
also matches longer words: `pehchan*` matches "pehchanein".
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import TypeVar, cast

from nlu.normalize import normalize, tokens
from nlu.types import Parse
from responses import Catalog


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
    matcher, owners = _options_matcher(tuple(tuple(phrases) for phrases in options.values()))
    return _best(text, tuple(options), matcher, owners)


def _best(text: str, names: tuple[str, ...], matcher: _Matcher, owners: tuple[int, ...]) -> str | None:
    scores = [0] * len(names)
    for index in matcher.found(words_of(text), all_of_them=True):
        scores[owners[index]] += 1
    top = max(scores, default=0)
    return names[scores.index(top)] if top else None


class Choices:
    """Options made from a catalog's content alone (its Learn cards' keywords, the categories' phrases):
    `best` among them, with their matcher built once. `best(text, options)` finds the matcher again from
    the options on every call, and the options themselves were built on every call: a typed message asks
    for a Learn card and a family topic on its way through the routes."""

    def __init__(self, options: Mapping[str, Sequence[str]]) -> None:
        self.names = tuple(options)
        self.matcher, self.owners = _options_matcher(tuple(tuple(phrases) for phrases in options.values()))

    def best(self, text: str) -> str | None:
        """`best(text, options)` for these options."""
        return _best(text, self.names, self.matcher, self.owners)


T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def remembered(texts: Catalog, name: str, make: Callable[[], T]) -> T:
    """What `make` works out from `texts`, kept in `texts.memo[name]` the first time it is asked for (`name`
    unique to it, e.g. "learn.cards"): the content never changes once loaded."""
    found = texts.memo.get(name)
    if found is None:
        found = texts.memo[name] = make()
    return cast(T, found)


def kept(table: dict[K, T], key: K, value: T, limit: int) -> T:
    """`value`, put in `table` under `key`; a table already holding `limit` entries is emptied first, so a
    memo of the last things asked (texts, buttons) stays bounded."""
    if len(table) >= limit:
        table.clear()
    table[key] = value
    return value


def choices(texts: Catalog, name: str, options: Callable[[Catalog], Mapping[str, Sequence[str]]]) -> Choices:
    """The `Choices` of `options(texts)`, built once for a catalog; `name` is their key in `texts.memo`,
    unique to them (e.g. "learn.cards")."""
    return remembered(texts, name, lambda: Choices(options(texts)))


class _Lists:
    """Every routing list of a catalog (responses/routing.yaml) in one matcher: which lists a text holds a
    phrase of comes out of one pass over its words. The engine asks about ten lists of a typed message
    (routes, interrupts, the steps' own words): one matcher each was most of its phrase matching."""

    def __init__(self, routing: Mapping[str, Sequence[str]]) -> None:
        self.matcher = _Matcher([phrase for phrases in routing.values() for phrase in phrases])
        self.owners = tuple(name for name, phrases in routing.items() for _ in phrases)

    def found(self, text: str) -> frozenset[str]:
        owners = self.owners
        return frozenset(owners[index] for index in self.matcher.found(words_of(text), all_of_them=True))


_LISTS = "words.lists"  # Catalog.memo: the catalog's `_Lists`
_SAID = "words.said"  # Catalog.memo: text -> the lists it holds a phrase of (the last SAID_KEPT texts)
SAID_KEPT = 256


def lists_in(text: str, texts: Catalog) -> frozenset[str]:
    """The names of the routing lists of `texts` that `text` holds a phrase of (`any_of` for each list at
    once). Remembered for the last texts: a message is asked about by the flows' needs and then by the
    engine's routes."""
    said: dict[str, frozenset[str]] = remembered(texts, _SAID, dict)
    found = said.get(text)
    if found is None:
        lists = remembered(texts, _LISTS, lambda: _Lists(texts.routing))
        found = kept(said, text, lists.found(text), SAID_KEPT)
    return found


def says(text: str, name: str, texts: Catalog) -> bool:
    """Whether `text` holds one of the routing phrases of the list `name` (KeyError for an unknown list, as
    `texts.phrases(name)` gives): `any_of(text, texts.phrases(name))`, from `lists_in`."""
    if name in lists_in(text, texts):
        return True
    texts.phrases(name)  # an unknown list is a mistake in the code, not a message without its words
    return False


def has_words(parse: Parse) -> bool:
    """Letters outside links, @names and reference codes: the message says something of its own (the
    engine's language guess and an answer to an analysts' question both ask)."""
    said = parse.text
    for entity in sorted(parse.entities, key=lambda e: e.start, reverse=True):
        if 0 <= entity.start <= entity.end <= len(said):
            said = said[: entity.start] + " " + said[entity.end :]
    return any(ch.isalpha() for ch in said)
