"""Designated (proscribed) organisations: the operator's list, and finding its names in what citizens send.

A report that names a proscribed organisation (in its description, an @handle, a link's slug or a forwarded
post) tells the analyst something the category alone does not: the page may be the organisation's own
outlet, and glorifying or funding it is an offence of its own (PECA s.9 and s.12). The names are matched
when the report is stored (bot.pipeline), so the queue can order by them (storage.priority: a part of its
own) and the case shows which organisation, on whose authority and since when.

The list is data, not code: `designated.yaml` beside this module is the shipped default (a few entries with
a named source, docs/content.md); the operator points `RAABTA_DESIGNATED_FILE` at a file of their own,
copied from NACTA's published list, which replaces it. A malformed file is refused when it is loaded (at
start, and by `raabta designated check`) with every problem named by its entry: a list that silently lost
an entry would silently stop weighing it.

Matching is on whole words after the folding people's spelling needs: Urdu typed with Arabic letter forms
or diacritics (nlu.normalize), Roman Urdu spelling variants (nlu.normalize's and a few of names: tehrik /
tahreek / tehreek), the izafat written or not ("Lashkar-e-Taiba", "Lashkar i Taiba", "Lashkar Taiba"),
underscores and hyphens, and in handles and slugs camel case too ("@ttp_official", "TtpMedia",
"/ttp-official"). Whole words only: "ttp" is not found in "http", nor "Al Qaeda" in "qaedat". This module
is shared (bot.shared): the pipeline matches with it, the CLI checks files with it; it imports neither.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from nlu.normalize import normalize, tokens
from responses.yamlfile import safe_load as load_yaml

DEFAULT_FILE = Path(__file__).with_name("designated.yaml")
SCRIPTS = ("en", "ur", "ur-Latn")  # English, Urdu script, Roman Urdu: every entry has names in each
PLACES = ("description", "handle", "link", "forward")  # where in a report a name was found
FIELDS = frozenset({"name", "aliases", "source", "date", "note"})
REQUIRED = ("name", "aliases", "source", "date")
MAX_TEXT = 300  # name, alias, source: what fits on a case page row

_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_ARABIC_FORMS = re.compile(
    "[\u064a\u0643\u0647\u0649]"
)  # ي ك ه ى: the content check's rule (docs/content.md)
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff]")
_LATIN = re.compile("[A-Za-z]")
# Where a handle or slug runs words together in camel case: "TtpMedia", "TTPOfficial" (not "TTPofficial").
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# Hamza forms typed one way or the other (فاؤنڈیشن / فاونڈیشن / فاوٴنڈیشن).
_HAMZA = str.maketrans({"\u0624": "\u0648", "\u0623": "\u0627", "\u0625": "\u0627", "\u0674": None})
# The izafat ("of"), written or not in Roman Urdu and English transliterations: dropped from both sides.
CONNECTORS = frozenset({"e", "i"})
# Roman spellings of the words in organisations' names -> one spelling (no value is also a key, so folding
# is idempotent). nlu.normalize.ROMAN_VARIANTS folds everyday words; these are names'.
NAME_VARIANTS = {
    "tehrik": "tehreek",
    "tahrik": "tehreek",
    "tahreek": "tehreek",
    "tehrek": "tehreek",
    "mohammad": "muhammad",
    "mohammed": "muhammad",
    "muhammed": "muhammad",
    "mohamed": "muhammad",
    "muhamad": "muhammad",
    "qaida": "qaeda",
    "qaidah": "qaeda",
    "qaedah": "qaeda",
    "alqaida": "alqaeda",
    "taibah": "taiba",
    "tayyaba": "taiba",
    "tayyiba": "taiba",
    "toiba": "taiba",
    "tayba": "taiba",
    "jhangavi": "jhangvi",
    "jamat": "jamaat",
    "dawah": "dawa",
    "sahabah": "sahaba",
    "insaniat": "insaniyat",
}


class DesignatedError(ValueError):
    """The list cannot be used; the message names the file and every entry at fault."""


@dataclass(frozen=True, slots=True)
class Organisation:
    id: str  # the entry's key in the file
    name: str  # what analysts see
    aliases: Mapping[str, tuple[str, ...]]  # per script (SCRIPTS), as written in the file
    source: str
    designated_on: date


@dataclass(frozen=True, slots=True)
class Match:
    """An organisation's name found in a report: which alias, where, and (for a link) which link."""

    organisation: Organisation
    alias: str  # as written in the list
    place: str  # one of PLACES
    link: str | None = None  # the canonical URL, when place is "link"


def words_of(text: str) -> tuple[str, ...]:
    """The words a name is matched on: normalised (Urdu letter forms, diacritics, case), Roman Urdu
    spellings folded, the izafat dropped."""
    folded = tokens(normalize(text).translate(_HAMZA))
    return tuple(NAME_VARIANTS.get(w, w) for w in folded if w not in CONNECTORS)


class Designated:
    """The organisations of one list and the word sequences that name them."""

    def __init__(self, organisations: Iterable[Organisation], path: Path) -> None:
        self.organisations = tuple(organisations)
        self.path = path
        # first word -> (the alias's words, organisation, alias as written); longest alias first, so that
        # "Tehreek-e-Taliban Pakistan" is reported rather than a shorter alias found at the same place.
        index: dict[str, list[tuple[tuple[str, ...], Organisation, str]]] = {}
        for org in self.organisations:
            for alias in dict.fromkeys(a for script in SCRIPTS for a in org.aliases[script]):
                seq = words_of(alias)
                index.setdefault(seq[0], []).append((seq, org, alias))
        for candidates in index.values():
            candidates.sort(key=lambda c: -len(c[0]))
        self._index = index

    def __len__(self) -> int:
        return len(self.organisations)

    def find(self, text: str, camel: bool = False) -> list[tuple[Organisation, str]]:
        """The organisations named in `text` (each once, in order of first mention), with the alias found.
        With `camel` (handles, links), words run together in camel case count as words too ("TtpMedia"),
        besides the text as written (so "LeJ_media" still names LeJ)."""
        if not self._index or not text:
            return []
        found: dict[str, tuple[Organisation, str]] = {}
        readings = [text, _CAMEL.sub(" ", text)] if camel else [text]
        for seen in dict.fromkeys(words_of(reading) for reading in readings):
            for i, word in enumerate(seen):
                for seq, org, alias in self._index.get(word, ()):
                    if org.id not in found and seen[i : i + len(seq)] == seq:
                        found[org.id] = (org, alias)
        return list(found.values())

    def in_report(
        self,
        description: str,
        links: Iterable[str] = (),
        handles: Iterable[str] = (),
        forwards: Iterable[str] = (),
    ) -> list[Match]:
        """Every organisation a report names, once per place (and per link: a name in one link's slug
        belongs to that link's case, not to the other links of the report)."""
        matches: list[Match] = []
        for org, alias in self.find(description):
            matches.append(Match(org, alias, "description"))
        for place, texts in (("handle", handles), ("forward", forwards)):
            named: dict[str, Match] = {}
            for text in texts:
                for org, alias in self.find(text, camel=place == "handle"):
                    named.setdefault(org.id, Match(org, alias, place))
            matches.extend(named.values())
        for link in dict.fromkeys(links):
            matches.extend(Match(org, alias, "link", link) for org, alias in self.find(link, camel=True))
        return matches


# --- reading and checking a file ------------------------------------------------------------------------


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _date(value: object) -> date | None:
    if isinstance(value, datetime):
        return None  # a date, not a time
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _alias_problems(script: str, alias: str) -> list[str]:
    problems = []
    if len(alias) > MAX_TEXT:
        problems.append(f"aliases.{script}: {alias[:40]!r}… is longer than {MAX_TEXT} characters")
    if script == "ur":
        if not _ARABIC_SCRIPT.search(alias):
            problems.append(f"aliases.ur: {alias!r} is not in Urdu script")
        elif _ARABIC_FORMS.search(alias):
            problems.append(
                f"aliases.ur: {alias!r} has Arabic letters (ي ك ه ى) where Urdu ones belong (ی ک ہ)"
            )
    elif not _LATIN.search(alias) or _ARABIC_SCRIPT.search(alias):
        problems.append(f"aliases.{script}: {alias!r} is not in Latin letters")
    if not words_of(alias):
        problems.append(f"aliases.{script}: {alias!r} has no word to match")
    return problems


def _entry(key: object, entry: object) -> tuple[Organisation | None, list[str]]:
    """One entry as an Organisation, or the problems that keep it out (without the file and entry name)."""
    if not isinstance(key, str) or not _ID.fullmatch(key):
        return None, ["the id must be lower-case letters, digits, - or _ (64 at most)"]
    if not isinstance(entry, dict):
        return None, ["expected name, aliases, source and date"]
    problems = [f"{field} is missing" for field in REQUIRED if field not in entry]
    unknown = sorted(str(k) for k in entry if str(k) not in FIELDS)
    if unknown:
        problems.append(f"unknown field {', '.join(unknown)} (fields: {', '.join(sorted(FIELDS))})")
    name, source = _text(entry.get("name")), _text(entry.get("source"))
    if "name" in entry and (name is None or len(name) > MAX_TEXT):
        problems.append(f"name must be text of 1 to {MAX_TEXT} characters")
    if "source" in entry and (source is None or len(source) > MAX_TEXT):
        problems.append(f"source must say, in 1 to {MAX_TEXT} characters, where the designation is published")
    when = _date(entry.get("date"))
    if "date" in entry:
        if when is None:
            problems.append(f"date {entry.get('date')!r} is not a date (YYYY-MM-DD)")
        elif when > datetime.now(UTC).date():
            problems.append(f"date {when.isoformat()} is in the future")
    aliases: dict[str, tuple[str, ...]] = {}
    given = entry.get("aliases")
    if "aliases" in entry and not isinstance(given, dict):
        problems.append("aliases must give names under en, ur and ur-Latn")
    elif isinstance(given, dict):
        extra = sorted(str(k) for k in given if str(k) not in SCRIPTS)
        if extra:
            problems.append(f"aliases: unknown script {', '.join(extra)} (scripts: {', '.join(SCRIPTS)})")
        for script in SCRIPTS:
            value = given.get(script)
            listed = [value] if isinstance(value, str) else value
            if not isinstance(listed, list) or not listed:
                problems.append(f"aliases.{script}: at least one name is needed")
                continue
            texts = [_text(a) for a in listed]
            if any(t is None for t in texts):
                problems.append(f"aliases.{script}: every name must be text")
                continue
            kept = tuple(t for t in texts if t is not None)
            for alias in kept:
                problems.extend(_alias_problems(script, alias))
            aliases[script] = kept
    if problems or name is None or source is None or when is None:
        return None, problems
    return Organisation(key, name, aliases, source, when), []


def load(path: Path | None = None) -> Designated:
    """The list in `path` (the shipped default when None), checked: DesignatedError names the file and
    every entry at fault. An empty file is a valid, empty list."""
    where = path or DEFAULT_FILE
    try:
        text = where.read_text(encoding="utf-8")
    except OSError as exc:
        raise DesignatedError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    try:
        data: Any = load_yaml(text)
    except yaml.YAMLError as exc:
        raise DesignatedError(f"{where.name}: not valid YAML ({exc})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DesignatedError(f"{where.name}: expected entries (id: name, aliases, source, date)")
    problems: list[str] = []
    organisations: list[Organisation] = []
    claimed: dict[tuple[str, ...], str] = {}  # an alias's words -> the entry that has them
    for key, entry in data.items():
        org, wrong = _entry(key, entry)
        problems.extend(f"{where.name}: entry {key!r}: {p}" for p in wrong)
        if org is None:
            continue
        for script in SCRIPTS:
            for alias in org.aliases[script]:
                seq = words_of(alias)
                other = claimed.setdefault(seq, org.id)
                if other != org.id:
                    problems.append(
                        f"{where.name}: entry {org.id!r}: alias {alias!r} also names entry {other!r}"
                    )
        organisations.append(org)
    if problems:
        raise DesignatedError("; ".join(problems))
    return Designated(organisations, where)


@lru_cache(maxsize=1)
def shipped() -> Designated:
    """The shipped default list, read once."""
    return load(DEFAULT_FILE)
