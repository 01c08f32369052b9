"""Takedown notice templates (notices.yaml): what an analyst sends a platform or the PTA about a case.

They are data like every other text, checked by `raabta content check` (responses.load reads them too):
each template has a label, the agencies and platforms it is the first choice for, and a subject and body
in English (Urdu may be added). Its placeholders are the fixed set NOTICE_PARAMS, filled from the case by
the console; none of them is about who reported, so no template can ask for a reporter, a description or
a reference code, and a misspelt one fails the check instead of reaching a platform as "{case_di}".
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from responses import _ARABIC_NOT_URDU, HERE, ContentError, fields_of, placeholders
from responses.yamlfile import safe_load as load_yaml

NOTICES = "notices.yaml"
# What the console fills a notice with: the case's own facts, never its reporters (see notices.yaml).
NOTICE_PARAMS = frozenset(
    {
        "case_id",
        "canonical_url",
        "platform",
        "categories",
        "first_seen",
        "report_count",
        "agency_reference",
    }
)
NOTICE_LANGUAGES = ("en", "ur")  # en is required; an Urdu text may be added (a PTA notice, say)
_FIELDS = frozenset({"label", "agencies", "platforms", "subject", "body"})
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")  # fits referrals.template


@dataclass(frozen=True, slots=True)
class Filled:
    """A notice filled in from one case: what the analyst copies."""

    template: str
    subject: str
    body: str

    @property
    def text(self) -> str:
        return f"Subject: {self.subject}\n\n{self.body}"


@dataclass(frozen=True, slots=True)
class Notice:
    """One template of notices.yaml."""

    id: str
    label: str
    agencies: tuple[str, ...]
    platforms: tuple[str, ...]
    subject: dict[str, str]
    body: dict[str, str]

    def fill(self, values: Mapping[str, object], lang: str = "en") -> Filled:
        """The notice with every placeholder filled from `values` (all of NOTICE_PARAMS are needed: a
        missing one is a KeyError, never a notice sent with a hole in it)."""
        missing = sorted(NOTICE_PARAMS - set(values))
        if missing:
            raise KeyError(f"a notice needs {', '.join(missing)}")
        given = {name: str(values[name]) for name in NOTICE_PARAMS}
        formatter = string.Formatter()
        subject = formatter.vformat(self.subject.get(lang) or self.subject["en"], (), given)
        body = formatter.vformat(self.body.get(lang) or self.body["en"], (), given)
        return Filled(self.id, subject.strip(), body.strip())


@dataclass(frozen=True, slots=True)
class Notices:
    """Every template, in file order."""

    items: tuple[Notice, ...] = ()

    def ids(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.items)

    def get(self, name: str) -> Notice | None:
        return next((n for n in self.items if n.id == name), None)

    def choose(self, agency: str | None, platform: str | None) -> Notice | None:
        """The template an analyst most likely wants: the agency's own (PTA, Meta, ...), else, when the
        case went to `platform` or to nobody named, the one for the case's platform; else the first."""
        wanted = (agency or "").casefold()
        for notice in self.items:
            if wanted and wanted in (a.casefold() for a in notice.agencies):
                return notice
        for notice in self.items:
            if platform and platform in notice.platforms:
                return notice
        return self.items[0] if self.items else None


def _words(where: str, value: object, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{where}: expected a list of names")
        return ()
    return tuple(v.strip() for v in value)


def _texts(where: str, value: object, problems: list[str]) -> dict[str, str]:
    """One subject or body: en required, ur optional, placeholders known and alike in both."""
    if not isinstance(value, dict):
        problems.append(f"{where}: expected texts by language ({', '.join(NOTICE_LANGUAGES)})")
        return {}
    extra = sorted(str(k) for k in value if str(k) not in NOTICE_LANGUAGES)
    if extra:
        problems.append(f"{where}: unknown language {', '.join(extra)} (en, or en and ur)")
    texts = {str(k): str(v).strip() for k, v in value.items() if str(k) in NOTICE_LANGUAGES and v}
    if not texts.get("en"):
        problems.append(f"{where}: missing en")
        return texts
    try:
        names = placeholders(texts["en"])
        if "ur" in texts and placeholders(texts["ur"]) != names:
            problems.append(f"{where}: placeholders in ur differ from en ({sorted(names)})")
    except ValueError as exc:
        problems.append(f"{where}: broken braces ({exc})")
        return texts
    unknown = sorted(names - NOTICE_PARAMS)
    if unknown:
        known = ", ".join(sorted(NOTICE_PARAMS))
        problems.append(f"{where}: unknown placeholder {', '.join(unknown)} (a notice may use {known})")
    if "ur" in texts and _ARABIC_NOT_URDU.search(texts["ur"]):
        problems.append(f"{where}: Arabic letters (ي ك ه ى) where Urdu ones belong (ی ک ہ)")
    return texts


def _notice(name: str, entry: object, problems: list[str]) -> Notice | None:
    where = f"{NOTICES}: {name}"
    if not _NAME.match(name):
        problems.append(f"{where}: a template's name is 1 to 32 of a-z, 0-9 and _, starting with a letter")
    entry = fields_of(where, entry, _FIELDS, "label, agencies, platforms, subject and body", problems)
    if entry is None:
        return None
    label = str(entry.get("label") or "").strip()
    if not label:
        problems.append(f"{where}: no label")
    return Notice(
        id=name,
        label=label,
        agencies=_words(f"{where}.agencies", entry.get("agencies"), problems),
        platforms=_words(f"{where}.platforms", entry.get("platforms"), problems),
        subject=_texts(f"{where}.subject", entry.get("subject"), problems),
        body=_texts(f"{where}.body", entry.get("body"), problems),
    )


def _clashes(items: list[Notice]) -> list[str]:
    """An agency or platform named by two templates: which one would be chosen is not obvious."""
    problems = []
    for kind in ("agencies", "platforms"):
        seen: dict[str, str] = {}
        for notice in items:
            for name in getattr(notice, kind):
                key = name.casefold()
                if key in seen:
                    problems.append(f"{NOTICES}: {kind} {name!r} is in both {seen[key]} and {notice.id}")
                seen.setdefault(key, notice.id)
    return problems


def load_notices(path: Path) -> Notices:
    """Read and check notices.yaml (none: no templates); ContentError names every problem found."""
    if not path.exists():
        return Notices()
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ContentError(f"{path.name}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ContentError(f"{path.name}: expected a mapping of template names to templates")
    problems: list[str] = []
    items = [n for name, entry in data.items() if (n := _notice(str(name), entry, problems)) is not None]
    problems += _clashes(items)
    if problems:
        raise ContentError("; ".join(problems))
    return Notices(tuple(items))


@cache
def notices() -> Notices:
    """The shipped templates, loaded once."""
    return load_notices(HERE / NOTICES)
