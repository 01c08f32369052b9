"""Training and test examples in Rasa's `nlu.yml` format (version "3.1"), so the same files train Rasa.

Layout: `nlu/data/train/*.yml` trains the model; `nlu/data/test/*.yml` measures it and is never trained on.
In the test directory, `wrong.yml` holds the "phrasings we got wrong" (messages citizens really sent that
an earlier model misread, issue 17): measured and reported on their own, not part of the held-out split.
The language of an example is, in order: its own `metadata.language`, its intent block's
`metadata.language`, or the file name (`en.yml`, `ur.yml`, `ur-Latn.yml`). Entity annotations
(`[K7QM-2XD9](reference)`, `[text]{"entity": ...}`) are reduced to their text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from responses.yamlfile import safe_load as load_yaml

DATA_DIR = Path(__file__).parent / "data"
TRAIN_DIR = DATA_DIR / "train"
TEST_DIR = DATA_DIR / "test"
FORMAT_VERSION = "3.1"
WRONG_FILE = "wrong.yml"  # in a test directory: the phrasings we got wrong, reported apart

# The intents the dialogue engine knows: DESIGN's fifteen plus `back`, `self_harm` (a person speaking of
# harming or killing themselves) and `at_risk_self` (the person themselves being drawn into extremism).
INTENTS = (
    "greet",
    "goodbye",
    "thanks",
    "report_content",
    "family_help",
    "counter_narrative",
    "emergency",
    "self_harm",
    "at_risk_self",
    "check_status",
    "privacy",
    "help",
    "change_language",
    "cancel",
    "back",
    "affirm",
    "deny",
    "out_of_scope",
)

# [text](entity), [text](entity:value), [text]{"entity": ...}, [text][{...}, {...}]
_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")


class DataError(ValueError):
    """A training file is not valid Rasa NLU data for us."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    intent: str
    language: str
    source: str  # file name, for error messages and reports


def plain_text(annotated: str) -> str:
    """The example text without Rasa entity annotations."""
    return _ANNOTATION.sub(lambda m: m.group("text"), annotated)


def _example_lines(block: str) -> list[str]:
    lines = []
    for raw in block.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("- "):
            raise DataError(f"example line does not start with '- ': {line!r}")
        lines.append(line[2:].strip())
    return lines


def _language_of(meta: Any, default: str) -> str:
    if isinstance(meta, dict) and isinstance(meta.get("language"), str):
        return str(meta["language"])
    return default


def parse_nlu_yaml(text: str, source: str, default_language: str) -> list[Example]:
    """The intent examples of one `nlu.yml` document (synonyms, regexes and lookups are skipped)."""
    doc = load_yaml(text)
    if not isinstance(doc, dict):
        raise DataError(f"{source}: not a YAML mapping")
    if str(doc.get("version")) != FORMAT_VERSION:
        raise DataError(f'{source}: version must be "{FORMAT_VERSION}"')
    items = doc.get("nlu") or []
    if not isinstance(items, list):
        raise DataError(f"{source}: `nlu` must be a list")
    examples: list[Example] = []
    for item in items:
        if not isinstance(item, dict) or "intent" not in item:
            continue
        intent = str(item["intent"])
        if intent not in INTENTS:
            raise DataError(f"{source}: unknown intent {intent!r}")
        block_language = _language_of(item.get("metadata"), default_language)
        raw = item.get("examples")
        if isinstance(raw, str):
            for line in _example_lines(raw):
                examples.append(Example(plain_text(line), intent, block_language, source))
        elif isinstance(raw, list):  # the long form: [{text, metadata}, ...]
            for entry in raw:
                if isinstance(entry, dict) and isinstance(entry.get("text"), str):
                    language = _language_of(entry.get("metadata"), block_language)
                    examples.append(Example(plain_text(entry["text"]), intent, language, source))
        else:
            raise DataError(f"{source}: intent {intent!r} has no examples")
    return examples


def load_file(path: Path) -> list[Example]:
    return parse_nlu_yaml(path.read_text(encoding="utf-8"), path.name, default_language=path.stem)


def data_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())


def load_dir(directory: Path, skip: tuple[str, ...] = ()) -> list[Example]:
    """Every example of every `.yml` file in `directory` (but those named in `skip`), in a stable order."""
    examples: list[Example] = []
    for path in data_files(directory):
        if path.name not in skip:
            examples.extend(load_file(path))
    return examples


def load_held_out(directory: Path = TEST_DIR) -> list[Example]:
    """The held-out split: every test file but the phrasings we got wrong."""
    return load_dir(directory, skip=(WRONG_FILE,))


def load_wrong(directory: Path = TEST_DIR) -> list[Example]:
    """The phrasings we got wrong (`wrong.yml`), or nothing when the directory has none."""
    path = directory / WRONG_FILE
    return load_file(path) if path.is_file() else []


def counts(examples: Iterable[Example]) -> dict[tuple[str, str], int]:
    """(language, intent) -> number of examples."""
    found: dict[tuple[str, str], int] = {}
    for e in examples:
        found[(e.language, e.intent)] = found.get((e.language, e.intent), 0) + 1
    return found
