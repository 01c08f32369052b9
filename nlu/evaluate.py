"""Measure `nlu.parse` on the test split (`nlu/data/test/`): what `raabta nlu eval` prints.

Intent figures count the languages we serve (en, ur, ur-Latn); language figures count every test file,
including Arabic-script languages we recognise but do not serve (they must not come out as Urdu).
The intents where a miss costs most (`WATCHED`: a danger to others, a person in crisis, a person being drawn
in) get their recall and every miss printed; emergency its precision too (a film's bomb scene answered
with the emergency text is a miss of its own kind).

Calibration: the expected calibration error (ECE) of the confidence `parse` returns, over BINS equal-width
bins (the mean over bins of |accuracy - mean confidence|, weighted by the share of messages in the bin),
and a text reliability diagram: for each bin, how many messages and how many of them were right.

The phrasings we got wrong (`wrong.yml`, issue 17) are scored apart: intent and language accuracy and
every miss. Their language is what `parse` answers (a letterless "👍" keeps the conversation's language:
`en`, the default, here).

The recruiters' claims (responses/claims.yaml) are matched apart from the intents (nlu/claims.py), and
measured on their own held-out phrasings (`nlu/data/claims/held_out.yml`, outside the intent test split
so the intent figures stay comparable): claim-match accuracy, how often the right claim is among the two
offered when the matcher is unsure, how often it is sure and right, and every miss. Then, on the same
phrasings, how many the intent classifier reads as `counter_narrative`, and (given a `reach`, which the CLI
takes from bot/dialogue/reach.py: this package never imports the dialogue) how many reach their claim's
answer end to end, shown at once or offered among the two nearest, with every one that does not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nlu.data import INTENTS, TEST_DIR, DataError, Example, load_held_out, load_wrong
from nlu.language import SERVED
from nlu.parser import prepare
from nlu.types import Parse
from responses.claims import Library
from responses.yamlfile import safe_load as load_yaml

# Intents whose misses are listed one by one: each sends the citizen somewhere no other intent does.
WATCHED = ("emergency", "self_harm", "at_risk_self")
BINS = 10


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int
    confidence: float  # mean confidence in the bin
    accuracy: float


@dataclass
class Wrong:
    """The phrasings we got wrong, scored on their own."""

    examples: int = 0
    intent_accuracy: float = 0.0
    language_accuracy: float = 0.0
    errors: list[tuple[str, str, str, str, str]] = field(default_factory=list)  # text, gold, got, lang, got


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
    ece: float = 0.0
    reliability: list[Bin] = field(default_factory=list)
    wrong: Wrong | None = None

    @property
    def emergency_recall(self) -> float:
        return self.recall.get("emergency", 0.0)

    @property
    def emergency_precision(self) -> float:
        found = self.by_intent.get("emergency")
        return found.precision if found else 0.0

    @property
    def emergency_misses(self) -> list[tuple[str, str]]:
        return self.misses.get("emergency", [])


def calibration(outcomes: list[tuple[float, bool]], bins: int = BINS) -> tuple[float, list[Bin]]:
    """Expected calibration error and the reliability diagram of (confidence, right) pairs."""
    found: list[Bin] = []
    ece = 0.0
    for index in range(bins):
        low, high = index / bins, (index + 1) / bins
        inside = [(c, ok) for c, ok in outcomes if low <= c < high or (index == bins - 1 and c >= high)]
        if inside:
            confidence = sum(c for c, _ in inside) / len(inside)
            accuracy = sum(ok for _, ok in inside) / len(inside)
            ece += len(inside) / len(outcomes) * abs(accuracy - confidence)
        else:
            confidence = accuracy = 0.0
        found.append(Bin(low, high, len(inside), confidence, accuracy))
    return ece, found


def evaluate_wrong(examples: list[Example], parser: Callable[[str], Parse]) -> Wrong:
    """Intent and language accuracy on the phrasings we got wrong."""
    wrong = Wrong(examples=len(examples))
    intent_hits = language_hits = 0
    for example in examples:
        understood = parser(example.text)
        intent_hits += understood.intent.name == example.intent
        language_hits += understood.language == example.language
        if understood.intent.name != example.intent or understood.language != example.language:
            wrong.errors.append(
                (example.text, example.intent, understood.intent.name, example.language, understood.language)
            )
    wrong.intent_accuracy = _share(intent_hits, len(examples))
    wrong.language_accuracy = _share(language_hits, len(examples))
    return wrong


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
    wrong: list[Example] | None = None,
) -> Report:
    """Parse every held-out example and score intents, emergencies, calibration and languages; then the
    phrasings we got wrong (`wrong`, or the directory's wrong.yml when `examples` is not given)."""
    if parser is None:
        from nlu.parser import parse

        parser = parse
    items = examples if examples is not None else load_held_out(test_dir)
    if wrong is None and examples is None:
        wrong = load_wrong(test_dir)
    report = Report(examples=len(items), misses={name: [] for name in WATCHED})
    outcomes: list[tuple[float, bool]] = []
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
        intent = parser(example.text).intent
        predicted = intent.name
        outcomes.append((intent.confidence, predicted == example.intent))
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
    report.ece, report.reliability = calibration(outcomes)
    if wrong:
        report.wrong = evaluate_wrong(wrong, parser)
    return report


def format_report(report: Report, errors: bool = False) -> str:
    """The report as text: one figure a line, then tables."""
    lines = [
        f"test examples: {report.examples}",
        f"intent accuracy: {report.intent_accuracy:.4f}",
        f"intent macro F1: {report.macro_f1:.4f}",
        *(f"{name} recall: {report.recall.get(name, 0.0):.4f}" for name in WATCHED),
        f"emergency precision: {report.emergency_precision:.4f}",
        f"expected calibration error: {report.ece:.4f} ({BINS} bins)",
        f"language accuracy: {report.language_accuracy:.4f} ({report.language_examples} examples)",
        f"language accuracy, two words or more: {report.language_accuracy_two_words:.4f}",
        "",
        "language   accuracy  macro F1",
    ]
    for language, accuracy in report.accuracy_by_language.items():
        lines.append(f"{language:<10} {accuracy:>8.4f}  {report.macro_f1_by_language[language]:>8.4f}")
    lines += ["", "reliability diagram (confidence of the parsed intent: messages, share right)"]
    lines.append("confidence   count  confidence  accuracy")
    for b in report.reliability:
        bar = "#" * round(b.accuracy * 20) if b.count else ""
        share = f"{b.accuracy:>8.4f}" if b.count else f"{'-':>8}"
        mean = f"{b.confidence:>10.4f}" if b.count else f"{'-':>10}"
        lines.append(f"{b.low:.1f}-{b.high:.1f}  {b.count:>8}  {mean}  {share}  {bar}")
    lines += ["", "intent               precision  recall      F1  support"]
    for intent, s in report.by_intent.items():
        lines.append(f"{intent:<20} {s.precision:>9.4f} {s.recall:>7.4f} {s.f1:>7.4f} {s.support:>8}")
    lines += ["", "confusion pairs (expected -> got: count)"]
    lines += [f"  {g} -> {p}: {n}" for g, p, n in report.confusions] or ["  none"]
    for name in WATCHED:
        lines += ["", "emergencies missed" if name == "emergency" else f"{name} missed"]
        lines += [f"  {text!r} -> {p}" for text, p in report.misses.get(name, [])] or ["  none"]
    if report.wrong is not None:
        w = report.wrong
        lines += [
            "",
            f"phrasings we got wrong (wrong.yml): {w.examples} examples",
            f"wrong.yml intent accuracy: {w.intent_accuracy:.4f}",
            f"wrong.yml language accuracy: {w.language_accuracy:.4f}",
        ]
        lines += [
            f"  {text!r}: {gold} -> {got} ({lang} -> {got_lang})"
            for text, gold, got, lang, got_lang in w.errors
        ] or ["  all right"]
    if errors:
        lines += ["", "intent errors"]
        lines += [f"  [{lang}] {text!r}: {g} -> {p}" for lang, text, g, p in report.intent_errors] or [
            "  none"
        ]
        lines += ["", "language errors"]
        lines += [f"  {text!r}: {g} -> {f}" for text, g, f in report.language_errors] or ["  none"]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# the recruiters' claims (issue 24): which claim a question is about, on phrasings held out apart

CLAIMS_TEST = TEST_DIR.parent / "claims" / "held_out.yml"


@dataclass
class ClaimsReport:
    """The claim matcher (nlu/claims.py) on held-out phrasings: the answer a citizen gets is the best claim
    when the matcher is sure, else the two best offered, so both figures matter."""

    examples: int = 0
    claims: int = 0
    accuracy: float = 0.0  # the best claim is the right one
    top_two: float = 0.0  # the right one is among the two offered when unsure
    sure_share: float = 0.0  # taken at its word (answered without asking)
    sure_accuracy: float = 0.0  # ... and right
    accuracy_by_language: dict[str, tuple[float, int]] = field(default_factory=dict)
    not_claims: int = 0  # questions about no claim
    not_claims_answered: list[str] = field(default_factory=list)  # ... that the matcher was sure of
    misses: list[tuple[str, str, str, str]] = field(default_factory=list)  # (language, text, gold, got)
    counter_narrative: int = 0  # phrasings the intent classifier reads as counter_narrative
    # End to end (when a `reach` was given): the claim's answer shown at once, or offered among two.
    answered: int | None = None
    offered: int | None = None
    # ... and those that did not: (language, text, claim, the intent read)
    unreached: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def reached(self) -> int | None:
        """Phrasings whose claim's answer the citizen got, at once or one tap away."""
        if self.answered is None or self.offered is None:
            return None
        return self.answered + self.offered


def load_claim_tests(path: Path = CLAIMS_TEST) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The held-out claim phrasings as (claim, language, text), and the questions about no claim."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataError(f"{path.name}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("claims"), dict):
        raise DataError(f"{path.name}: expected `claims`: claim -> language -> phrasings")
    items: list[tuple[str, str, str]] = []
    for claim, languages in data["claims"].items():
        if not isinstance(languages, dict):
            raise DataError(f"{path.name}: {claim}: expected phrasings by language")
        for language, texts in languages.items():
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise DataError(f"{path.name}: {claim}.{language}: expected a list of phrasings")
            items += [(str(claim), str(language), t) for t in texts]
    others = data.get("not_claims") or {}
    none = [t for texts in others.values() if isinstance(texts, list) for t in texts if isinstance(t, str)]
    return items, none


# (claim, language, text) -> "answered" | "offered" | anything else (bot/dialogue/reach.py)
Reach = Callable[[str, str, str], str]


def evaluate_claims(
    path: Path = CLAIMS_TEST, library: Library | None = None, reach: Reach | None = None
) -> ClaimsReport:
    """Match every held-out phrasing against the shipped claims (or `library`) and score it; count those
    the intent classifier reads as counter_narrative, and, with `reach`, those that reach their answer."""
    from nlu.claims import matcher_for
    from nlu.parser import parse
    from responses import catalog

    library = library if library is not None else catalog().claims
    if library is None or not library.claims:
        raise DataError("no claims to match (responses/claims.yaml)")
    items, none = load_claim_tests(path)
    unknown = sorted({claim for claim, _, _ in items} - set(library.ids()))
    if unknown:
        raise DataError(f"{path.name}: unknown claim {', '.join(unknown)} (not in responses/claims.yaml)")
    matcher = matcher_for(library)
    report = ClaimsReport(examples=len(items), claims=len(library.claims), not_claims=len(none))
    hits = two = sure = sure_hits = 0
    by_language: dict[str, list[bool]] = {}
    got: Counter[str] = Counter()
    for claim, language, text in items:
        intent = parse(text).intent.name
        report.counter_narrative += intent == "counter_narrative"
        if reach is not None:
            where = reach(claim, language, text)
            got[where] += 1
            if where not in ("answered", "offered"):
                report.unreached.append((language, text, claim, intent))
        found = matcher.match(text)
        right = found.best == claim
        hits += right
        two += claim in found.two()
        sure += found.sure
        sure_hits += found.sure and right
        by_language.setdefault(language, []).append(right)
        if not right:
            report.misses.append((language, text, claim, found.best or "none"))
    report.accuracy = _share(hits, len(items))
    report.top_two = _share(two, len(items))
    report.sure_share = _share(sure, len(items))
    report.sure_accuracy = _share(sure_hits, sure)
    report.accuracy_by_language = {
        lang: (_share(sum(right), len(right)), len(right)) for lang, right in sorted(by_language.items())
    }
    report.not_claims_answered = [text for text in none if matcher.match(text).sure]
    if reach is not None:
        report.answered, report.offered = got["answered"], got["offered"]
    return report


def format_claims(report: ClaimsReport) -> str:
    """The claim-match figures, one a line, then every miss (there are few, and each is worth reading)."""
    lines = [
        f"claim-match accuracy: {report.accuracy:.4f} ({report.examples} held-out phrasings, "
        f"{report.claims} claims)",
        f"claim-match top two: {report.top_two:.4f} (the right claim among the two offered when unsure)",
        f"claim-match sure: {report.sure_share:.4f} of phrasings answered at once, "
        f"{report.sure_accuracy:.4f} of them right",
        *(
            f"claim-match {lang}: {accuracy:.4f} of {count}"
            for lang, (accuracy, count) in report.accuracy_by_language.items()
        ),
        f"claim-match questions about no claim answered as one: {len(report.not_claims_answered)} of "
        f"{report.not_claims}",
        "",
        "claim-match misses (expected -> got)",
    ]
    lines += [f"  [{lang}] {text!r}: {gold} -> {got}" for lang, text, gold, got in report.misses] or [
        "  none"
    ]
    lines += [f"  answered though about no claim: {text!r}" for text in report.not_claims_answered]
    lines += [
        "",
        f"claims read as counter_narrative by the intent classifier: {report.counter_narrative} of "
        f"{report.examples}",
    ]
    if report.reached is not None:
        lines += [
            f"claims reaching their answer end to end: {report.reached} of {report.examples} "
            f"({report.answered} answered at once, {report.offered} offered among the two nearest)",
            "",
            "claims not reaching their answer (claim, the intent read)",
        ]
        lines += [
            f"  [{lang}] {text!r}: {claim} (read as {intent})"
            for lang, text, claim, intent in report.unreached
        ] or ["  none"]
    return "\n".join(lines)
