"""Everything the bot says, as data: one YAML file per topic, each text in en, ur and ur-Latn.

A key is `<file>.<name>`: `report.ask_link` is `ask_link` in `report.yaml`. A text may name placeholders
in braces: the ones the code fills (`{code}`, listed in PARAMS) and the helplines of `helplines.yaml`
(`{police}`), which every text gets filled in automatically. A file may list its cards under `_cards`; a
card carries a `source` (in every language) that is shown under it, and `keywords` that map typed
questions to it. Helplines carry purposes (`for:`); `Catalog.helplines_for("crisis")` gives the verified
ones of a purpose, and an entry that is not verified is shown nowhere. An Urdu text comes out of
`Catalog.text` with its numbers, codes, links, @handles and e-mail addresses isolated (responses/bidi.py),
so that every channel shows "0800-39393" in its order. `raabta content check` runs `load()`;
docs/content.md explains how to edit.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from responses.bidi import isolate
from responses.languages import LANGUAGES as LANGUAGES
from responses.yamlfile import safe_load as load_yaml

if TYPE_CHECKING:
    from responses.claims import Library

HERE = Path(__file__).parent
HELPLINES = "helplines.yaml"
ROUTING = "routing.yaml"  # the words that route messages to flows: lists of phrases, not texts
NOTICES = "notices.yaml"  # takedown notice templates for analysts (responses/notices.py), not bot texts
CLAIMS = "claims.yaml"  # recruiters' claims and our answers (responses/claims.py): joins the texts below
# Placeholders the code fills in. A new one needs adding here, or the check fails as "unknown".
PARAMS = frozenset(
    {
        "category",
        "code",
        "count",
        "days",
        "description",
        "limit",
        "where",
        "received",
        "referred",
        "monitored",
        "month",
        "name",
        "number",
        "contact",
        "lines",
        "time",
        "card",
        "received_on",
        "reviewed_on",
        "decided_on",
        "question",  # an analyst's follow-up question (responses/followup.yaml), quoted as given
        "reason",
    }
)
HELPLINE_STATUSES = ("verified", "hidden")  # an unconfirmed number is shown nowhere: it is hidden
# What a helpline is for (`for:` in helplines.yaml); the flows ask for one with Catalog.helplines_for().
HELPLINE_PURPOSES = (
    "emergency",  # someone's life is in danger now: police, rescue
    "crisis",  # someone speaks of harming or killing themselves: suicide and mental-health crisis lines
    "family",  # a worried relative: family counselling, child protection, families abroad
    "cyber",  # cybercrime and online harassment: NCCIA, DRF
    "report",  # unlawful online content reported to the authorities outside Raabta: PTA
)
CONFIDENCE = ("V-high", "V-med", "V-low", "U")  # the research's marks (shared/reference/content.md)
WEAK_CONFIDENCE = ("V-low", "U")
BUTTON_FILES = ("buttons.", "categories.")
MAX_BUTTON = 20
_ARABIC_NOT_URDU = re.compile("[يكهى]")
_URDU_LETTER = re.compile("[\u0600-\u06ff]")
_TEXT_FIELDS = frozenset(LANGUAGES)
_CARD_FIELDS = frozenset({"source", "keywords"})


MEMO_LANGUAGES = 16  # the languages whose texts a catalog remembers (three are served)


class ContentError(ValueError):
    """The content files break a rule (missing language, unknown placeholder, ...)."""


@dataclass(frozen=True, slots=True)
class Helpline:
    """One helpline or agency contact from helplines.yaml."""

    id: str
    contact: str
    status: str  # verified | hidden
    verified_on: date
    name: dict[str, str]
    purposes: tuple[str, ...] = ()  # what it is for: some of HELPLINE_PURPOSES

    @property
    def shown(self) -> bool:
        """Only a verified number is ever shown; anything else stays in the file for the operator."""
        return self.status == "verified"


class _Fill(dict[str, Any]):
    """Placeholders without a value stay as they are written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True, slots=True)
class Catalog:
    texts: dict[str, dict[str, str]]
    sources: dict[str, dict[str, str]] = field(default_factory=dict)  # card key -> source line per language
    keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)  # card key -> typed words
    card_lists: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file -> its cards, in order
    helplines: tuple[Helpline, ...] = ()
    routing: dict[str, tuple[str, ...]] = field(default_factory=dict)  # list name -> phrases, every language
    claims: Library | None = None  # claims.yaml: the recruiters' claims, their phrasings and sources
    # What is worked out from this content once and then only read, by whoever works it out (the dialogue
    # engine: a matcher of the routing phrases, its buttons' labels). The content never changes after
    # loading; a copy (`dataclasses.replace`) starts with empty ones.
    memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    # language -> key -> the text without parameters (`text`), and the helplines' values (`_numbers`)
    _plain: dict[str, dict[str, str]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _values: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def phrases(self, name: str) -> tuple[str, ...]:
        """The routing phrases of `name` in routing.yaml, all languages together (KeyError if unknown)."""
        return self.routing[name]

    def text(self, key: str, lang: str, **params: Any) -> str:
        """The text for `key` in `lang` with its placeholders filled (a card ends with its source).

        In a right-to-left language (Urdu) the filled text's numbers, codes, links, @handles and e-mail
        addresses are isolated (responses/bidi.py), so "0800-39393" never reads "39393-0800". A text
        without parameters is the same every time: it is worked out once (about nine texts a turn)."""
        if params:
            return self._text(key, lang, params)
        texts = self._plain.get(lang)
        if texts is None:
            if len(self._plain) >= MEMO_LANGUAGES:  # languages made up by a caller: not remembered
                return self._text(key, lang, params)
            texts = self._plain[lang] = {}
        found: str | None = texts.get(key)
        if found is None:
            found = texts[key] = self._text(key, lang, params)
        return found

    def _text(self, key: str, lang: str, params: dict[str, Any]) -> str:
        entry = self.texts[key]
        template = entry.get(lang) or entry["en"]
        source = self.sources.get(key)
        if source:
            template = template + "\n\n" + (source.get(lang) or source["en"])
        if "{" in template:
            template = _render(template, {**self._numbers, **params})
        return isolate(template, lang)

    def has(self, key: str) -> bool:
        return key in self.texts

    def cards(self, topic: str) -> tuple[str, ...]:
        """The names of the cards in `<topic>.yaml`, in the order they are listed."""
        return self.card_lists.get(topic, ())

    def numbers(self, lang: str) -> dict[str, str]:
        """Each verified helpline's placeholder value (the same in every language; `lang` is for callers
        that fill a text of one language). A hidden entry has no value: the check stops texts using it."""
        return dict(self._numbers)

    @property
    def _numbers(self) -> dict[str, str]:
        """`numbers`, worked out once and never handed out (every text with a placeholder is filled with
        them)."""
        if not self._values:
            self._values.update((line.id, line.contact) for line in self.helplines if line.shown)
        return self._values

    def shown_helplines(self) -> tuple[Helpline, ...]:
        """The helplines list (Help → Helplines): every verified entry, in file order."""
        return tuple(line for line in self.helplines if line.shown)

    def helplines_for(self, purpose: str) -> tuple[Helpline, ...]:
        """The verified helplines marked `for: [purpose]`, in file order; empty when none is verified.

        Never an unverified number. `crisis` gives only the crisis lines, which come as extras: the crisis
        texts name {police} and {rescue} themselves (from `emergency`, which the check requires to have a
        verified entry). An unknown purpose is a programming error (ValueError), not an empty list.
        """
        if purpose not in HELPLINE_PURPOSES:
            raise ValueError(f"unknown helpline purpose {purpose!r}; known: {', '.join(HELPLINE_PURPOSES)}")
        return tuple(line for line in self.helplines if line.shown and purpose in line.purposes)


def _render(template: str, values: dict[str, Any]) -> str:
    return template.format_map(_Fill(values))


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _entry_problems(key: str, entry: Mapping[str, str], known: frozenset[str]) -> list[str]:
    """One text's problems: languages, placeholders, Urdu letters."""
    missing = [lang for lang in LANGUAGES if not isinstance(entry.get(lang), str) or not entry[lang].strip()]
    if missing:
        return [f"{key}: missing {', '.join(missing)}"]
    problems = []
    try:
        names = placeholders(entry["en"])
        for lang in LANGUAGES[1:]:
            if placeholders(entry[lang]) != names:
                problems.append(f"{key}: placeholders in {lang} differ from en ({sorted(names)})")
    except ValueError as exc:
        return [f"{key}: broken braces ({exc})"]
    unknown = sorted(names - known)
    if unknown:
        problems.append(f"{key}: unknown placeholder {', '.join(unknown)} (not in PARAMS or helplines.yaml)")
    if _ARABIC_NOT_URDU.search(entry["ur"]):
        problems.append(f"{key}: Arabic letters (ي ك ه ى) where Urdu ones belong (ی ک ہ)")
    if not _URDU_LETTER.search(entry["ur"]) and entry["ur"] != entry["en"]:
        problems.append(f"{key}: the ur text has no Urdu letters")
    return problems


def check(
    texts: dict[str, dict[str, str]],
    sources: Mapping[str, Mapping[str, str]] | None = None,
    card_lists: Mapping[str, tuple[str, ...]] | None = None,
    helplines: tuple[Helpline, ...] = (),
) -> list[str]:
    """Problems with the content: languages, placeholders, Urdu letters, button lengths, card sources."""
    sources = sources or {}
    hidden = frozenset(line.id for line in helplines if line.status == "hidden")
    known = PARAMS | frozenset(line.id for line in helplines)
    problems = []
    for key, entry in sorted(texts.items()):
        found = _entry_problems(key, entry, known)
        problems += found
        if found:
            continue
        used = placeholders(entry["en"]) & hidden
        if used:
            problems.append(f"{key}: uses hidden helpline {', '.join(sorted(used))}")
        if key.startswith(BUTTON_FILES) and any(len(entry[lang]) > MAX_BUTTON for lang in LANGUAGES):
            problems.append(f"{key}: button label over {MAX_BUTTON} characters")
    for topic, names in sorted((card_lists or {}).items()):
        for name in names:
            key = f"{topic}.{name}"
            if key not in texts:
                problems.append(f"{key}: listed in _cards but not written")
            elif key not in sources:
                problems.append(f"{key}: a card without a source")
            else:
                problems += _entry_problems(f"{key}.source", sources[key], known)
            if f"buttons.{topic}_{name}" not in texts:
                problems.append(f"{key}: a card without a button label (buttons.{topic}_{name})")
    return problems


def _as_date(value: object) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


_HELPLINE_FIELDS = frozenset({"contact", "status", "verified_on", "confidence", "source", "name", "for"})


def _purposes(value: object) -> tuple[str, ...] | None:
    """The `for:` list as a tuple of strings (absent: no purpose), or None when it is not a list of words."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(value)


def fields_of(
    where: str, entry: object, fields: Iterable[str], expected: str, problems: list[str]
) -> dict[str, Any] | None:
    """An entry of a content file that must be a mapping of `fields`: it, with a problem named for each
    field it has that is not one of them; None, and a problem saying what was `expected`, when it is not
    a mapping at all (helplines, claims and their sources, notice templates)."""
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected {expected}")
        return None
    known = set(fields)
    extra = sorted(str(k) for k in entry if str(k) not in known)
    if extra:
        problems.append(f"{where}: unknown field {', '.join(extra)}")
    return entry


def _helpline_problems(name: str, data: object) -> list[str]:
    """One helplines.yaml entry's problems; empty when it can be used."""
    where = f"{HELPLINES}: {name}"
    problems: list[str] = []
    expected = "contact, status, verified_on, confidence, source, name and for"
    data = fields_of(where, data, _HELPLINE_FIELDS, expected, problems)
    if data is None:
        return problems
    if not str(data.get("contact") or "").strip():
        problems.append(f"{where}: no contact")
    if data.get("status") == "unconfirmed":
        problems.append(
            f"{where}: status unconfirmed is gone: an unverified number is shown nowhere, mark it hidden"
        )
    elif data.get("status") not in HELPLINE_STATUSES:
        problems.append(f"{where}: status must be one of {', '.join(HELPLINE_STATUSES)}")
    purposes = _purposes(data.get("for"))
    if purposes is None:
        problems.append(f"{where}: for must be a list of purposes ({', '.join(HELPLINE_PURPOSES)})")
    else:
        unknown = [p for p in purposes if p not in HELPLINE_PURPOSES]
        if unknown:
            problems.append(
                f"{where}: unknown purpose {', '.join(unknown)} (known: {', '.join(HELPLINE_PURPOSES)})"
            )
    if data.get("confidence") not in CONFIDENCE:
        problems.append(f"{where}: confidence must be one of {', '.join(CONFIDENCE)}")
    if "verified_on" not in data or data["verified_on"] is None:
        problems.append(f"{where}: no verified_on date")
    elif _as_date(data["verified_on"]) is None:
        problems.append(f"{where}: verified_on is not a date (YYYY-MM-DD)")
    if data.get("confidence") in WEAK_CONFIDENCE and data.get("status") == "verified":
        problems.append(f"{where}: confidence {data['confidence']} may not be shown as verified")
    if not str(data.get("source") or "").strip():
        problems.append(f"{where}: no source")
    names = data.get("name")
    if not isinstance(names, dict) or any(not str(names.get(lang) or "").strip() for lang in LANGUAGES):
        problems.append(f"{where}: name needs en, ur and ur-Latn")
    elif _ARABIC_NOT_URDU.search(str(names["ur"])):
        problems.append(f"{where}: Arabic letters (ي ك ه ى) where Urdu ones belong (ی ک ہ)")
    return problems


def load_helplines(path: Path) -> tuple[Helpline, ...]:
    """Read helplines.yaml; every entry needs a contact, a status, a verified_on date, a confidence mark,
    a source and a name, and may list its purposes under `for`. At least one verified `emergency` entry
    must exist: the emergency and crisis answers always give a number to call."""
    if not path.exists():
        return ()
    data = _read(path)
    problems = [p for name, entry in data.items() for p in _helpline_problems(str(name), entry)]
    if problems:
        raise ContentError("; ".join(problems))
    helplines = tuple(
        Helpline(
            id=str(name),
            contact=str(entry["contact"]).strip(),
            status=str(entry["status"]),
            verified_on=_as_date(entry["verified_on"]) or date.min,
            name={lang: str(entry["name"][lang]).strip() for lang in LANGUAGES},
            purposes=_purposes(entry.get("for")) or (),
        )
        for name, entry in data.items()
    )
    if data and not any(line.shown and "emergency" in line.purposes for line in helplines):
        raise ContentError(
            f"{HELPLINES}: no verified entry for emergency (the emergency and crisis answers need one)"
        )
    return helplines


def _read(
    path: Path, error: type[ValueError] = ContentError, expected: str = "a mapping of names to texts"
) -> dict[str, Any]:
    """A content file's top-level mapping; `error` (the file's own kind) naming the file if it is not one."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise error(f"{path.name}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise error(f"{path.name}: expected {expected}")
    return data


def _strings(key: str, value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ContentError(f"{key}: expected en, ur and ur-Latn texts")
    return {str(k): str(v).strip() for k, v in value.items() if str(k) in _TEXT_FIELDS}


def _card_list(path: Path, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ContentError(f"{path.name}: _cards must be a list of names")
    return tuple(value)


def load(directory: Path = HERE) -> Catalog:
    """Read and check every YAML file in `directory` (helplines.yaml included)."""
    texts: dict[str, dict[str, str]] = {}
    sources: dict[str, dict[str, str]] = {}
    keywords: dict[str, tuple[str, ...]] = {}
    card_lists: dict[str, tuple[str, ...]] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name in (HELPLINES, ROUTING, NOTICES, CLAIMS):
            continue
        for name, entry in _read(path).items():
            key = f"{path.stem}.{name}"
            if name == "_cards":
                card_lists[path.stem] = _card_list(path, entry)
                continue
            if not isinstance(entry, dict):
                raise ContentError(f"{key}: expected en, ur and ur-Latn texts")
            extra = sorted(str(k) for k in entry if str(k) not in _TEXT_FIELDS | _CARD_FIELDS)
            if extra:
                raise ContentError(f"{key}: unknown field {', '.join(extra)}")
            texts[key] = _strings(key, entry)
            if "source" in entry:
                sources[key] = _strings(f"{key}.source", entry["source"])
            if "keywords" in entry:
                words = entry["keywords"]
                if not isinstance(words, list):
                    raise ContentError(f"{key}: keywords must be a list")
                keywords[key] = tuple(str(w) for w in words)
    helplines = load_helplines(directory / HELPLINES)
    routing = load_routing(directory / ROUTING)
    from responses.notices import load_notices  # it imports this module: only once it is loaded

    load_notices(directory / NOTICES)  # checked with the rest; the console reads them (notices())
    from responses.claims import ClaimsError, load_claims  # it imports this package: only once loaded

    try:
        claims = load_claims(directory / CLAIMS)
    except ClaimsError as exc:
        raise ContentError(str(exc)) from None
    texts.update(claims.texts)  # the answers and the flow's texts, checked below like every text
    sources.update(claims.source_lines)
    problems = check(texts, sources, card_lists, helplines)
    if problems:
        raise ContentError("; ".join(problems))
    return Catalog(texts, sources, keywords, card_lists, helplines, routing, claims)


def load_routing(path: Path) -> dict[str, tuple[str, ...]]:
    """routing.yaml: each list has phrases in every language (strings with a letter in them)."""
    if not path.exists():
        return {}
    routing: dict[str, tuple[str, ...]] = {}
    for name, entry in _read(path).items():
        key = f"{path.stem}.{name}"
        if not isinstance(entry, dict) or set(map(str, entry)) != set(LANGUAGES):
            raise ContentError(f"{key}: expected phrase lists for exactly {', '.join(LANGUAGES)}")
        phrases: list[str] = []
        for lang in LANGUAGES:
            listed = entry[lang]
            if not isinstance(listed, list) or not listed:
                raise ContentError(f"{key}.{lang}: expected a list of phrases")
            for phrase in listed:
                if not isinstance(phrase, str) or not any(c.isalpha() for c in phrase):
                    raise ContentError(
                        f"{key}.{lang}: {phrase!r} is not a phrase (quote words YAML reads as yes/no)"
                    )
                if phrase not in phrases:
                    phrases.append(phrase.strip())
        routing[str(name)] = tuple(phrases)
    return routing


@cache
def catalog() -> Catalog:
    """The shipped content, loaded once."""
    return load()
