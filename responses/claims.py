"""The claims recruiters make and what we answer (claims.yaml), checked like every other text.

Why a file of its own: a claim is more than a text. It has the words people type about it (keywords and
example phrasings, from which nlu/claims.py builds its matcher), a short answer that fits a phone screen, a
longer "read more", a button label, and the sources it rests on. Each source is written once, under
`_sources`, with the research's confidence mark and where it was read (docs/content.md, "The claims
library"); a claim names its sources by id, and the line shown under its answers is made from their names,
so a source cannot be cited in one language and forgotten in another.

`responses.load()` reads this file with the others: the answers and the flow's own texts (`_texts`) join
the catalogue as `claims.<id>` (the short answer), `claims.<id>.more`, `claims.<id>.claim` (the claim in
the recruiters' words), `claims.<id>.button` and `claims.<name>`, so the general checks (every language,
placeholders, Urdu letters) apply to them too. What this module checks on top, and `raabta content check`
therefore reports: every claim has a short and a long answer in every language, at least one source, only
sources the research marks V-high or V-med, at least MIN_EXAMPLES phrasings and a keyword in every
language, a short answer of at most MAX_SHORT characters, and no phrasing shared by two claims.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from responses import _ARABIC_NOT_URDU, fields_of
from responses import _read as read_mapping
from responses.bidi import isolate
from responses.languages import LANGUAGES

CLAIMS = "claims.yaml"
MIN_EXAMPLES = 3  # phrasings per language and claim: the matcher learns each claim from these
MAX_SHORT = 520  # characters of a short answer (before its source line): a few lines on a phone
MAX_BUTTON = 20  # Messenger cuts longer quick-reply titles (as buttons.yaml)
SHIPPED = ("V-high", "V-med")  # only facts the research verified may stand behind an answer
CONFIDENCE = ("V-high", "V-med", "V-low", "U")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_CLAIM_FIELDS = ("claim", "button", "short", "more", "sources", "keywords", "examples")
_SOURCE_FIELDS = ("name", "confidence", "checked")
# The flow's own texts (claims.<name>); button_* are labels, held to MAX_BUTTON.
TEXTS = (
    "ask",
    "not_sure",
    "unknown",
    "talk",
    "more_footer",
    "button_more",
    "button_another",
    "button_ask",
    "button_talk",
    "button_counsellor",
)
# How the line under an answer starts, by language, for one source and for several.
_LABELS = {
    "en": ("Source", "Sources"),
    "ur": ("ماخذ", "ماخذ"),
    "ur-Latn": ("Source", "Sources"),
}
_JOIN = {"en": "; ", "ur": "؛ ", "ur-Latn": "; "}
_END = {"en": ".", "ur": "۔", "ur-Latn": "."}


class ClaimsError(ValueError):
    """claims.yaml breaks a rule; responses.load() reports it as a ContentError."""


@dataclass(frozen=True, slots=True)
class Source:
    """A document or statement an answer rests on, with the research's mark."""

    id: str
    name: dict[str, str]  # as shown under an answer, per language
    confidence: str  # V-high | V-med (V-low and U are refused)
    checked: str  # where and when its facts were read (docs/content.md has the details)


@dataclass(frozen=True, slots=True)
class Claim:
    """One claim: its id, the ids of its sources, and how people phrase it."""

    id: str
    sources: tuple[str, ...]
    keywords: dict[str, tuple[str, ...]]  # language -> words and short phrases (a trailing * is a prefix)
    examples: dict[str, tuple[str, ...]]  # language -> whole phrasings

    def phrasings(self) -> tuple[str, ...]:
        """Every example phrasing, all languages together."""
        return tuple(p for lang in LANGUAGES for p in self.examples.get(lang, ()))

    def all_keywords(self) -> tuple[str, ...]:
        return tuple(k for lang in LANGUAGES for k in self.keywords.get(lang, ()))


@dataclass(frozen=True, eq=False)
class Library:
    """Every claim in file order, their sources, and the questions that name no claim.

    Compared (and hashed) by identity: the matcher built from a library is cached per library."""

    claims: tuple[Claim, ...] = ()
    sources: dict[str, Source] = field(default_factory=dict)
    not_claims: tuple[str, ...] = ()  # questions that are about no claim: the matcher's "none of these"
    cues: tuple[str, ...] = ()  # words of someone asking about or retelling a claim ("they say", "jaiz")
    texts: dict[str, dict[str, str]] = field(default_factory=dict)  # catalogue keys -> text per language
    source_lines: dict[str, dict[str, str]] = field(default_factory=dict)  # catalogue key -> its source line

    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.claims)

    def get(self, claim: str) -> Claim | None:
        return next((c for c in self.claims if c.id == claim), None)


def _languages(where: str, value: object, problems: list[str]) -> dict[str, str]:
    """A text in every language, or a problem naming what is missing."""
    if not isinstance(value, dict):
        problems.append(f"{where}: expected {', '.join(LANGUAGES)}")
        return {}
    texts = {str(k): str(v).strip() for k, v in value.items() if str(k) in LANGUAGES and v is not None}
    missing = [lang for lang in LANGUAGES if not texts.get(lang)]
    extra = sorted(str(k) for k in value if str(k) not in LANGUAGES)
    if missing:
        problems.append(f"{where}: missing {', '.join(missing)}")
    if extra:
        problems.append(f"{where}: unknown language {', '.join(extra)}")
    return texts


def _lists(where: str, value: object, problems: list[str], least: int) -> dict[str, tuple[str, ...]]:
    """Lists of phrases in every language, each at least `least` long."""
    if not isinstance(value, dict):
        problems.append(f"{where}: expected lists for {', '.join(LANGUAGES)}")
        return {}
    found: dict[str, tuple[str, ...]] = {}
    for lang in LANGUAGES:
        items = value.get(lang)
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            problems.append(f"{where}.{lang}: expected a list of phrases (quote words YAML reads as yes/no)")
            continue
        found[lang] = tuple(i.strip() for i in items)
        if len(found[lang]) < least:
            problems.append(f"{where}.{lang}: {len(found[lang])} given, at least {least} needed")
    extra = sorted(str(k) for k in value if str(k) not in LANGUAGES)
    if extra:
        problems.append(f"{where}: unknown language {', '.join(extra)}")
    return found


def _source(name: str, entry: object, problems: list[str]) -> Source | None:
    where = f"{CLAIMS}: _sources.{name}"
    entry = fields_of(where, entry, _SOURCE_FIELDS, ", ".join(_SOURCE_FIELDS), problems)
    if entry is None:
        return None
    names = _languages(f"{where}.name", entry.get("name"), problems)
    if names.get("ur") and _ARABIC_NOT_URDU.search(names["ur"]):
        problems.append(f"{where}.name: Arabic letters (ي ك ه ى) where Urdu ones belong (ی ک ہ)")
    confidence = entry.get("confidence")
    if confidence not in CONFIDENCE:
        problems.append(f"{where}: confidence must be one of {', '.join(CONFIDENCE)}")
    elif confidence not in SHIPPED:
        problems.append(f"{where}: confidence {confidence} may not stand behind an answer (V-high or V-med)")
    checked = str(entry.get("checked") or "").strip()
    if not checked:
        problems.append(f"{where}: no checked (where and when its facts were read)")
    return Source(name, names, str(confidence), checked)


def _short_enough(where: str, texts: Mapping[str, str], problems: list[str]) -> None:
    for lang, text in texts.items():
        if len(text) > MAX_SHORT:
            problems.append(
                f"{where}: {lang} is {len(text)} characters, at most {MAX_SHORT} (move the rest to more)"
            )


def _claim(
    name: str,
    entry: object,
    known: Mapping[str, Source],
    texts: dict[str, dict[str, str]],
    problems: list[str],
) -> Claim | None:
    where = f"{CLAIMS}: {name}"
    if not _ID.match(name):
        problems.append(f"{where}: a claim's id is 1 to 40 of a-z, 0-9 and _, starting with a letter")
    entry = fields_of(where, entry, _CLAIM_FIELDS, ", ".join(_CLAIM_FIELDS), problems)
    if entry is None:
        return None
    short = _languages(f"{where}.short", entry.get("short"), problems)
    _short_enough(f"{where}.short", short, problems)
    texts[f"claims.{name}"] = short
    texts[f"claims.{name}.more"] = _languages(f"{where}.more", entry.get("more"), problems)
    texts[f"claims.{name}.claim"] = _languages(f"{where}.claim", entry.get("claim"), problems)
    texts[f"claims.{name}.button"] = _languages(f"{where}.button", entry.get("button"), problems)
    sources = entry.get("sources")
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
        problems.append(f"{where}: sources must name at least one entry of _sources")
        sources = []
    unknown = [s for s in sources if s not in known]
    if unknown:
        problems.append(f"{where}: unknown source {', '.join(unknown)} (not in _sources)")
    keywords = _lists(f"{where}.keywords", entry.get("keywords"), problems, 1)
    examples = _lists(f"{where}.examples", entry.get("examples"), problems, MIN_EXAMPLES)
    return Claim(name, tuple(sources), keywords, examples)


def _button_problems(key: str, labels: Mapping[str, str]) -> list[str]:
    # As sent: an Urdu label's numbers get two invisible isolates, which count too (docs/content.md).
    long = [lang for lang, label in labels.items() if len(isolate(label, lang)) > MAX_BUTTON]
    return [f"{key}: button label over {MAX_BUTTON} characters in {', '.join(long)}"] if long else []


def _source_line(claim: Claim, sources: Mapping[str, Source]) -> dict[str, str]:
    """The line under a claim's answers: "Sources: A; B." in each language, from the sources' names."""
    names = [sources[s].name for s in claim.sources if s in sources]
    line = {}
    for lang in LANGUAGES:
        one, many = _LABELS[lang]
        label = one if len(names) == 1 else many
        line[lang] = f"{label}: {_JOIN[lang].join(n.get(lang, '') for n in names)}{_END[lang]}"
    return line


def _duplicates(claims: tuple[Claim, ...]) -> list[str]:
    """A phrasing given for two claims teaches the matcher nothing but confusion."""
    seen: dict[str, str] = {}
    problems = []
    for claim in claims:
        for phrasing in claim.phrasings():
            said = " ".join(phrasing.casefold().split())
            other = seen.setdefault(said, claim.id)
            if other != claim.id:
                problems.append(f"{CLAIMS}: {phrasing!r} is an example of both {other} and {claim.id}")
    return problems


def load_claims(path: Path) -> Library:
    """Read and check claims.yaml; an empty library when there is none. ClaimsError lists every problem."""
    if not path.exists():
        return Library()
    data = read_mapping(path, ClaimsError, "a mapping of claims")
    problems: list[str] = []
    raw_sources = data.get("_sources")
    if not isinstance(raw_sources, dict) or not raw_sources:
        problems.append(f"{CLAIMS}: _sources must list the documents the answers rest on")
        raw_sources = {}
    sources = {
        str(name): found
        for name, entry in raw_sources.items()
        if (found := _source(str(name), entry, problems)) is not None
    }
    texts: dict[str, dict[str, str]] = {}
    raw_texts = data.get("_texts")
    if not isinstance(raw_texts, dict):
        problems.append(f"{CLAIMS}: _texts must hold {', '.join(TEXTS)}")
        raw_texts = {}
    for name in TEXTS:
        texts[f"claims.{name}"] = _languages(f"{CLAIMS}: _texts.{name}", raw_texts.get(name), problems)
    extra = sorted(str(k) for k in raw_texts if str(k) not in TEXTS)
    if extra:
        problems.append(f"{CLAIMS}: _texts: unknown text {', '.join(extra)}")
    not_claims = data.get("_not_claims") or {}
    none = _lists(f"{CLAIMS}: _not_claims", not_claims, problems, 1) if not_claims else {}
    cues = _lists(f"{CLAIMS}: _cues", data.get("_cues"), problems, 1)
    claims: list[Claim] = []
    for name, entry in data.items():
        if str(name).startswith("_"):
            if name not in ("_sources", "_texts", "_not_claims", "_cues"):
                problems.append(f"{CLAIMS}: unknown section {name}")
            continue
        claim = _claim(str(name), entry, sources, texts, problems)
        if claim is not None:
            claims.append(claim)
    if not claims:
        problems.append(f"{CLAIMS}: no claims")
    problems += _duplicates(tuple(claims))
    for key, labels in texts.items():
        if key.endswith(".button") or key.startswith("claims.button_"):
            problems += _button_problems(key, labels)
    unused = sorted(set(sources) - {s for c in claims for s in c.sources})
    if unused:
        problems.append(f"{CLAIMS}: _sources {', '.join(unused)} back no claim (remove, or cite them)")
    if problems:
        raise ClaimsError("; ".join(problems))
    lines: dict[str, dict[str, str]] = {}
    for claim in claims:
        line = _source_line(claim, sources)
        lines[f"claims.{claim.id}"] = line
        lines[f"claims.{claim.id}.more"] = line
    return Library(
        tuple(claims),
        sources,
        tuple(p for lang in LANGUAGES for p in none.get(lang, ())),
        tuple(p for lang in LANGUAGES for p in cues.get(lang, ())),
        texts,
        lines,
    )
