"""Everything the bot says, as data: one YAML file per topic, each text in en, ur and ur-Latn.

A key is `<file>.<name>`: `report.ask_link` is `ask_link` in `report.yaml`. A text may name placeholders
in braces (`{code}`); rendering fills only the ones the caller gives and that the text declares.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("en", "ur", "ur-Latn")
HERE = Path(__file__).parent
_ARABIC_NOT_URDU = re.compile("[يكهى]")


class ContentError(ValueError):
    """The content files break a rule (missing language, unknown placeholder, ...)."""


@dataclass(frozen=True, slots=True)
class Catalog:
    texts: dict[str, dict[str, str]]

    def text(self, key: str, lang: str, **params: Any) -> str:
        """The text for `key` in `lang` with its placeholders filled."""
        entry = self.texts[key]
        template = entry.get(lang) or entry["en"]
        return template.format_map(params) if params else template

    def has(self, key: str) -> bool:
        return key in self.texts


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def check(texts: dict[str, dict[str, str]]) -> list[str]:
    """Problems with the content: every text in every language, the same placeholders, Urdu letters."""
    problems = []
    for key, entry in sorted(texts.items()):
        missing = [
            lang for lang in LANGUAGES if not isinstance(entry.get(lang), str) or not entry[lang].strip()
        ]
        if missing:
            problems.append(f"{key}: missing {', '.join(missing)}")
            continue
        names = placeholders(entry["en"])
        for lang in LANGUAGES[1:]:
            if placeholders(entry[lang]) != names:
                problems.append(f"{key}: placeholders in {lang} differ from en ({sorted(names)})")
        if _ARABIC_NOT_URDU.search(entry["ur"]):
            problems.append(f"{key}: Arabic letters (ي ك ه ى) where Urdu ones belong (ی ک ہ)")
        if key.startswith(("buttons.", "categories.")) and any(len(entry[lang]) > 20 for lang in LANGUAGES):
            problems.append(f"{key}: button label over 20 characters")
    return problems


def load(directory: Path = HERE) -> Catalog:
    """Read and check every YAML file in `directory`."""
    texts: dict[str, dict[str, str]] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ContentError(f"{path.name}: not valid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise ContentError(f"{path.name}: expected a mapping of names to texts")
        for name, entry in data.items():
            if not isinstance(entry, dict):
                raise ContentError(f"{path.stem}.{name}: expected en, ur and ur-Latn texts")
            texts[f"{path.stem}.{name}"] = {str(k): str(v).strip() for k, v in entry.items()}
    problems = check(texts)
    if problems:
        raise ContentError("; ".join(problems))
    return Catalog(texts)


@cache
def catalog() -> Catalog:
    """The shipped content, loaded once."""
    return load()
