"""NLU benchmark on the held-out split (nlu/data/test/ but wrong.yml): accuracy per language, emergency
precision and recall, calibration error; the phrasings we got wrong (wrong.yml) apart; language
identification against langdetect, parse latency on one core, model load time and memory; optionally a
Rasa server on the same split.

    .venv/bin/python -m bench.nlu                      # needs the `bench` extra for langdetect
    .venv/bin/python -m bench.nlu --rasa-url http://127.0.0.1:5005   # a Rasa trained on nlu/data/train

Prints a table of figures. Nothing here is asserted: tests never time anything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nlu.data import Example, load_held_out, load_wrong  # noqa: E402
from nlu.language import SERVED  # noqa: E402


def pin_to_one_core() -> str:
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to cpu {cpu}"
    except (AttributeError, OSError):
        return "not pinned"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def time_calls(func: Callable[[str], object], texts: list[str], rounds: int) -> list[float]:
    """Milliseconds for each call, `rounds` passes over `texts` after one warm-up pass."""
    for text in texts:
        func(text)
    times = []
    clock = time.perf_counter
    for _ in range(rounds):
        for text in texts:
            started = clock()
            func(text)
            times.append((clock() - started) * 1000.0)
    return times


def fresh_process(code: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `code` in a new interpreter; it prints one JSON object."""
    environment = {**os.environ, **(env or {})}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, cwd=ROOT, check=True
    )
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


MEMORY_PROBE = """
import json, time, tracemalloc
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
before = rss()
tracemalloc.start()
started = time.perf_counter()
import nlu
from nlu import model
imported = time.perf_counter()
built, path = model.build()
loaded = time.perf_counter()
after_load = rss()
nlu.parse("hello")
first = time.perf_counter()
nlu.parse("یہ پیج بند کرو")  # builds the lingua detector (Arabic script)
nlu.parse("این صفحه را گزارش کنید")
lingua = time.perf_counter()
from nlu.data import load_held_out
for e in load_held_out():
    nlu.parse(e.text)
current, peak = tracemalloc.get_traced_memory()
print(json.dumps({"rss_before_mb": before, "rss_after_mb": rss(), "traced_mb": current / 2**20,
                  "rss_after_load_mb": after_load,
                  "traced_peak_mb": peak / 2**20, "import_s": imported - started, "load_s": loaded - imported,
                  "first_parse_ms": (first - loaded) * 1000, "lingua_first_ms": (lingua - first) * 1000,
                  "cached": path is not None}))
"""

LOAD_PROBE = """
import json, time
from nlu import model
key = model.data_key()
path = model.cached_path(key)
started = time.perf_counter()
model.Model.load(path)
print(json.dumps({"load_s": time.perf_counter() - started, "bytes": path.stat().st_size}))
"""

TRAIN_PROBE = """
import json, time
started = time.perf_counter()
from nlu import model
built, path = model.build()
print(json.dumps({"train_s": time.perf_counter() - started, "written": path is not None}))
"""


def language_table(examples: list[Example], rounds: int) -> list[tuple[str, str, str, str, str]]:
    from nlu.language import identify
    from nlu.normalize import clean
    from nlu.parser import prepare

    rows = []
    texts = [e.text for e in examples]
    gold = [e.language for e in examples]
    two = [i for i, t in enumerate(texts) if len(t.split()) >= 2]

    def accuracy(found: list[str], indices: list[int] | None = None) -> str:
        chosen = indices if indices is not None else list(range(len(found)))
        return f"{sum(found[i] == gold[i] for i in chosen) / len(chosen):.4f}"

    ours = [prepare(t).language or "none" for t in texts]
    ours_ms = time_calls(lambda t: identify(clean(t)), texts, rounds)
    rows.append(
        (
            "raabta (script + lingua + own classifier)",
            accuracy(ours),
            accuracy(ours, two),
            f"{statistics.median(ours_ms):.3f}",
            f"{statistics.mean(ours_ms):.3f}",
        )
    )
    try:
        from langdetect import DetectorFactory, LangDetectException, detect
    except ImportError:
        rows.append(("langdetect: not installed (pip install -e '.[bench]')", "-", "-", "-", "-"))
        return rows
    DetectorFactory.seed = 0

    def langdetect_code(text: str) -> str:
        try:
            return str(detect(text))
        except LangDetectException:
            return "none"

    theirs = [langdetect_code(t) for t in texts]
    theirs_ms = time_calls(langdetect_code, texts, max(1, rounds // 5))
    rows.append(
        (
            "langdetect 1.0.9 (seed 0), as labelled",
            accuracy(theirs),
            accuracy(theirs, two),
            f"{statistics.median(theirs_ms):.3f}",
            f"{statistics.mean(theirs_ms):.3f}",
        )
    )
    latin = {"en"}
    lenient = [
        "ur-Latn"
        if g == "ur-Latn" and t not in latin and t != "none" and not t.startswith(("ur", "fa", "ar"))
        else t
        for t, g in zip(theirs, gold, strict=True)
    ]
    rows.append(
        (
            "langdetect, any non-English Latin guess = ur-Latn",
            accuracy(lenient),
            accuracy(lenient, two),
            "",
            "",
        )
    )
    return rows


def rasa_figures(url: str, examples: list[Example]) -> list[tuple[str, str]]:
    import httpx

    from nlu import parse as our_parse
    from nlu.evaluate import WATCHED
    from nlu.parser import configure, reset_backend
    from nlu.rasa_client import ranking_from

    served = [e for e in examples if e.language in SERVED]
    hits: dict[str, list[bool]] = {}
    watched: dict[str, list[bool]] = {name: [] for name in WATCHED}
    times = []
    with httpx.Client(timeout=10.0) as client:
        for e in served:
            started = time.perf_counter()
            response = client.post(url.rstrip("/") + "/model/parse", json={"text": e.text})
            times.append((time.perf_counter() - started) * 1000.0)
            ranking = ranking_from(response.json()) or []
            name = ranking[0].name if ranking else "none"
            hits.setdefault(e.language, []).append(name == e.intent)
            if e.intent in watched:
                watched[e.intent].append(name == e.intent)
    everything = [h for values in hits.values() for h in values]
    configure("rasa", url)
    try:
        with_rules = [our_parse(e.text).intent.name == e.intent for e in served]
    finally:
        reset_backend()
    rows = [("Rasa intent accuracy (raw)", f"{sum(everything) / len(everything):.4f}")]
    rows += [(f"Rasa accuracy {lang}", f"{sum(v) / len(v):.4f}") for lang, v in sorted(hits.items())]
    for intent, found in watched.items():
        if found:
            rows.append((f"Rasa {intent} recall (raw)", f"{sum(found) / len(found):.4f}"))
    rows.append(("Rasa + our rules (RAABTA_NLU=rasa) accuracy", f"{sum(with_rules) / len(with_rules):.4f}"))
    rows.append(
        (
            "Rasa HTTP /model/parse p50 / p99 ms",
            f"{percentile(times, 0.5):.2f} / {percentile(times, 0.99):.2f}",
        )
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--rounds", type=int, default=5, help="passes over the test split for latency")
    args.add_argument("--rasa-url", help="also measure a Rasa server trained on nlu/data/train")
    options = args.parse_args(argv)

    from nlu import model, parse
    from nlu.evaluate import evaluate

    examples = load_held_out()
    wrong = load_wrong()
    model.get()  # train or load before timing anything
    pinned = pin_to_one_core()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores (nproc), {pinned}; "
        f"Python {platform.python_version()}; {platform.platform()}"
    )
    print(
        f"test split: {len(examples)} examples "
        f"({sum(e.language in SERVED for e in examples)} in en/ur/ur-Latn)"
    )
    print()

    report = evaluate(examples=examples, wrong=wrong)
    print("| accuracy (held-out split) | value |")
    print("| --- | --- |")
    print(f"| intent accuracy | {report.intent_accuracy:.4f} |")
    for language, accuracy in report.accuracy_by_language.items():
        print(
            f"| intent accuracy {language} (macro F1) | {accuracy:.4f} "
            f"({report.macro_f1_by_language[language]:.4f}) |"
        )
    for intent, recall in report.recall.items():
        support = report.by_intent[intent].support if intent in report.by_intent else 0
        print(f"| {intent} recall | {recall:.4f} ({support - len(report.misses[intent])} of {support}) |")
    print(f"| emergency precision | {report.emergency_precision:.4f} |")
    temperature = model.get().temperature
    print(f"| expected calibration error (10 bins) | {report.ece:.4f} (temperature {temperature}) |")
    print(
        f"| language accuracy, all / two words or more | {report.language_accuracy:.4f} / "
        f"{report.language_accuracy_two_words:.4f} |"
    )
    if report.wrong is not None:
        print(
            f"| phrasings we got wrong (wrong.yml, {report.wrong.examples}): intent / language accuracy | "
            f"{report.wrong.intent_accuracy:.4f} / {report.wrong.language_accuracy:.4f} |"
        )
    print()
    print("| reliability: confidence | messages | mean confidence | accuracy |")
    print("| --- | --- | --- | --- |")
    for b in report.reliability:
        if b.count:
            print(f"| {b.low:.1f}-{b.high:.1f} | {b.count} | {b.confidence:.4f} | {b.accuracy:.4f} |")
    print()

    print("| language identification | accuracy | 2+ words | median ms/call | mean ms/call |")
    print("| --- | --- | --- | --- | --- |")
    for row in language_table(examples, options.rounds):
        print("| " + " | ".join(row) + " |")
    print()

    texts = [e.text for e in examples]
    latencies = time_calls(parse, texts, options.rounds)
    # Per message, the best of the rounds: what parse costs when no other process takes the core.
    best = [min(latencies[i :: len(texts)]) for i in range(len(texts))]
    load = fresh_process(LOAD_PROBE)
    memory = fresh_process(MEMORY_PROBE)
    with tempfile.TemporaryDirectory() as empty:
        cold = fresh_process(TRAIN_PROBE, {"XDG_CACHE_HOME": empty, "RAABTA_DATA_DIR": empty})
    print("| speed and size | value |")
    print("| --- | --- |")
    print(
        f"| parse p50 / p90 / p99 / max ms (one core, {len(latencies)} calls) | "
        f"{percentile(latencies, 0.5):.3f} / "
        f"{percentile(latencies, 0.9):.3f} / {percentile(latencies, 0.99):.3f} / {max(latencies):.3f} |"
    )
    print(
        f"| parse p50 / p99 ms, best of {options.rounds} rounds per message | "
        f"{percentile(best, 0.5):.3f} / {percentile(best, 0.99):.3f} |"
    )
    print(f"| model load from cache (npz, {load['bytes'] / 2**20:.1f} MB) | {load['load_s'] * 1000:.0f} ms |")
    print(
        f"| fresh process: import nlu / load model / first parse | {memory['import_s'] * 1000:.0f} ms / "
        f"{memory['load_s'] * 1000:.0f} ms / {memory['first_parse_ms']:.1f} ms |"
    )
    print(f"| first Arabic-script parse (builds lingua for ur/fa/ar) | {memory['lingua_first_ms']:.0f} ms |")
    print(f"| training with no cache (fresh process, incl. imports) | {cold['train_s']:.1f} s |")
    print(
        f"| NLU memory: RSS before / after import, load and {len(texts)} parses | "
        f"{memory['rss_before_mb']:.0f} MB / {memory['rss_after_mb']:.0f} MB "
        f"(+{memory['rss_after_mb'] - memory['rss_before_mb']:.0f} MB) |"
    )
    print(
        f"| Python heap (tracemalloc) after / peak | {memory['traced_mb']:.1f} MB / "
        f"{memory['traced_peak_mb']:.1f} MB |"
    )

    if options.rasa_url:
        print()
        print("| Rasa (same test split) | value |")
        print("| --- | --- |")
        for name, value in rasa_figures(options.rasa_url, examples):
            print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
