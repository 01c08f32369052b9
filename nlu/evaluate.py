"""Measure `nlu.parse` on the test split (`nlu/data/test/`): what `raabta nlu eval` prints.

Intent figures count the languages we serve (en, ur, ur-Latn); language figures count every test file,
including Arabic-script languages we recognise but do not serve (they must not come out as Urdu).
The intents where a miss costs most (`WATCHED`: a danger to others, a person in crisis, a person being drawn
in) get their recall and every miss printed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nlu.data import INTENTS, TEST_DIR, Example, load_dir
from nlu.language import SERVED
from nlu.parser import prepare
from nlu.types import Parse

# Intents whose misses are listed one by one: each sends the citizen somewhere no other intent does.
WATCHED = ("emergency", "self_harm", "at_risk_self")


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Report:
    examples: int = 0
    intent_accuracy: float = 0.0
    accuracy_by_language: dict[str, float] = field(default_factory=dict)
    macro_f1_by_language: dict[str, float] = field(default_factory=dict)
    macro_f1: float = 0.0
    by_intent: dict[str, Scores] = field(default_factory=dict)
    confusions: list[tuple[str, str, int]] = field(default_factory=list)
    recall: dict[str, float] = field(default_factory=dict)  # WATCHED intent -> recall
    misses: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # intent -> [(text, predicted)]
    language_accuracy: float = 0.0
    language_accuracy_two_words: float = 0.0
    language_examples: int = 0
    language_errors: list[tuple[str, str, str]] = field(default_factory=list)  # (text, gold, found)
    intent_errors: list[tuple[str, str, str, str]] = field(default_factory=list)  # (lang, text, gold, found)

    @property
    def emergency_recall(self) -> float:
        return self.recall.get("emergency", 0.0)

    @property
    def emergency_misses(self) -> list[tuple[str, str]]:
        return self.misses.get("emergency", [])


def _scores(pairs: list[tuple[str, str]], label: str) -> Scores:
    tp = sum(1 for g, p in pairs if g == label and p == label)
    predicted = sum(1 for _, p in pairs if p == label)
    support = sum(1 for g, _ in pairs if g == label)
    precision = tp / predicted if predicted else 0.0
    recall = tp / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, support)


def _macro_f1(pairs: list[tuple[str, str]]) -> float:
    labels = sorted({g for g, _ in pairs})
    return sum(_scores(pairs, label).f1 for label in labels) / len(labels) if labels else 0.0


def _share(hits: int, total: int) -> float:
    return hits / total if total else 0.0


def evaluate(
    test_dir: Path = TEST_DIR,
    parser: Callable[[str], Parse] | None = None,
    examples: list[Example] | None = None,
) -> Report:
    """Parse every test example and score intents, emergencies and languages."""
    if parser is None:
        from nlu.parser import parse

        parser = parse
    items = examples if examples is not None else load_dir(test_dir)
    report = Report(examples=len(items), misses={name: [] for name in WATCHED})
    pairs_by_language: dict[str, list[tuple[str, str]]] = {}
    language_hits = language_total = two_hits = two_total = 0
    for example in items:
        found_language = prepare(example.text).language or "none"
        language_total += 1
        language_hits += found_language == example.language
        if len(example.text.split()) >= 2:
            two_total += 1
            two_hits += found_language == example.language
        if found_language != example.language:
            report.language_errors.append((example.text, example.language, found_language))
        if example.language not in SERVED:
            continue
        predicted = parser(example.text).intent.name
        pairs_by_language.setdefault(example.language, []).append((example.intent, predicted))
        if predicted != example.intent:
            report.intent_errors.append((example.language, example.text, example.intent, predicted))
        if example.intent in WATCHED and predicted != example.intent:
            report.misses[example.intent].append((example.text, predicted))

    everything = [pair for pairs in pairs_by_language.values() for pair in pairs]
    report.intent_accuracy = _share(sum(g == p for g, p in everything), len(everything))
    for language in sorted(pairs_by_language):
        pairs = pairs_by_language[language]
        report.accuracy_by_language[language] = _share(sum(g == p for g, p in pairs), len(pairs))
        report.macro_f1_by_language[language] = _macro_f1(pairs)
    report.macro_f1 = _macro_f1(everything)
    report.by_intent = {i: _scores(everything, i) for i in INTENTS if any(g == i for g, _ in everything)}
    confused = Counter((g, p) for g, p in everything if g != p)
    report.confusions = [(g, p, n) for (g, p), n in sorted(confused.items(), key=lambda kv: (-kv[1], kv[0]))]
    for name in WATCHED:
        gold = [p for g, p in everything if g == name]
        report.recall[name] = _share(sum(p == name for p in gold), len(gold))
    report.language_examples = language_total
    report.language_accuracy = _share(language_hits, language_total)
    report.language_accuracy_two_words = _share(two_hits, two_total)
    return report


def format_report(report: Report, errors: bool = False) -> str:
    """The report as text: one figure a line, then tables."""
    lines = [
        f"test examples: {report.examples}",
        f"intent accuracy: {report.intent_accuracy:.4f}",
        f"intent macro F1: {report.macro_f1:.4f}",
        *(f"{name} recall: {report.recall.get(name, 0.0):.4f}" for name in WATCHED),
        f"language accuracy: {report.language_accuracy:.4f} ({report.language_examples} examples)",
        f"language accuracy, two words or more: {report.language_accuracy_two_words:.4f}",
        "",
        "language   accuracy  macro F1",
    ]
    for language, accuracy in report.accuracy_by_language.items():
        lines.append(f"{language:<10} {accuracy:>8.4f}  {report.macro_f1_by_language[language]:>8.4f}")
    lines += ["", "intent               precision  recall      F1  support"]
    for intent, s in report.by_intent.items():
        lines.append(f"{intent:<20} {s.precision:>9.4f} {s.recall:>7.4f} {s.f1:>7.4f} {s.support:>8}")
    lines += ["", "confusion pairs (expected -> got: count)"]
    lines += [f"  {g} -> {p}: {n}" for g, p, n in report.confusions] or ["  none"]
    for name in WATCHED:
        lines += ["", "emergencies missed" if name == "emergency" else f"{name} missed"]
        lines += [f"  {text!r} -> {p}" for text, p in report.misses.get(name, [])] or ["  none"]
    if errors:
        lines += ["", "intent errors"]
        lines += [f"  [{lang}] {text!r}: {g} -> {p}" for lang, text, g, p in report.intent_errors] or [
            "  none"
        ]
        lines += ["", "language errors"]
        lines += [f"  {text!r}: {g} -> {f}" for text, g, f in report.language_errors] or ["  none"]
    return "\n".join(lines)
