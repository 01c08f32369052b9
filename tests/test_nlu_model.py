"""The trained model: its data, determinism, cache, the exported fast path, and accuracy on the test split."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from nlu import model
from nlu.data import INTENTS, TEST_DIR, TRAIN_DIR, DataError, counts, load_dir, parse_nlu_yaml
from nlu.evaluate import evaluate, format_report
from nlu.language import SERVED

MAIN = ("report_content", "family_help", "counter_narrative", "emergency", "self_harm", "at_risk_self")


@pytest.fixture(scope="module")
def fitted() -> model.Fitted:
    return model.fit()


@pytest.fixture(scope="module")
def report() -> object:
    return evaluate()


def test_training_data_has_enough_examples_per_language_and_intent() -> None:
    found = counts(load_dir(TRAIN_DIR))
    for language in SERVED:
        for intent in INTENTS:
            needed = 60 if intent in MAIN else 15
            assert found.get((language, intent), 0) >= needed, (language, intent)


def test_the_test_split_is_never_trained_on() -> None:
    train = {e.text.casefold().strip() for e in load_dir(TRAIN_DIR)}
    test = load_dir(TEST_DIR)
    assert len(test) >= 500
    assert [e.text for e in test if e.text.casefold().strip() in train] == []


def test_rasa_format_is_read_with_annotations_metadata_and_version() -> None:
    text = """
version: "3.1"
nlu:
- intent: check_status
  examples: |
    - status of [K7QM-2XD9](reference) please
    - code [abcd 1234]{"entity": "reference", "value": "ABCD-1234"}
- intent: greet
  metadata:
    language: ur-Latn
  examples:
  - text: salam
  - text: hello
    metadata:
      language: en
- synonym: fb
  examples: |
    - facebook
"""
    examples = parse_nlu_yaml(text, "x.yml", "en")
    assert [(e.text, e.intent, e.language) for e in examples] == [
        ("status of K7QM-2XD9 please", "check_status", "en"),
        ("code abcd 1234", "check_status", "en"),
        ("salam", "greet", "ur-Latn"),
        ("hello", "greet", "en"),
    ]
    with pytest.raises(DataError):
        parse_nlu_yaml('version: "2.0"\nnlu: []\n', "old.yml", "en")
    with pytest.raises(DataError):
        parse_nlu_yaml(
            'version: "3.1"\nnlu:\n- intent: order_pizza\n  examples: |\n    - hi\n', "x.yml", "en"
        )


def test_training_is_deterministic(fitted: model.Fitted) -> None:
    again = model.train()
    first = fitted.model
    assert again.classes == first.classes and again.key == first.key
    assert again.char_vocab == first.char_vocab and again.word_vocab == first.word_vocab
    for name in ("char_w", "word_w", "bias", "lang_char_w", "lang_word_w", "char_idf"):
        assert np.array_equal(getattr(again, name), getattr(first, name)), name
    assert again.temperature == first.temperature


def test_the_exported_model_scores_like_scikit_learn(fitted: model.Fitted) -> None:
    texts = [model.training_text(e) for e in load_dir(TEST_DIR)][::7]
    # The exported model divides the logits by the fitted temperature (calibration).
    expected = model.softmax(fitted.intents.decision_function(fitted.features(texts)) / fitted.temperature)
    got = np.array([fitted.model.intent_scores(t) for t in texts])
    assert np.allclose(got, expected, atol=1e-4)
    latin = ["bhai ye page report karna hai", "I want to report a page", "kya haal hai"]
    expected_latin = fitted.languages.predict_proba(fitted.features(latin))[:, 1]
    got_latin = [fitted.model.roman_urdu_probability(t) for t in latin]
    assert np.allclose(got_latin, expected_latin, atol=1e-4)


def test_the_cache_saves_loads_and_is_keyed_by_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fitted: model.Fitted
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("RAABTA_DATA_DIR", raising=False)
    data = tmp_path / "train"
    shutil.copytree(TRAIN_DIR, data)
    built, path = model.build(data)
    assert path is not None and path.parent == tmp_path / "cache" / "raabta"
    assert path.name == f"nlu-model-{built.key}.npz"
    loaded, same = model.build(data)
    assert same == path
    assert loaded.word_vocab == built.word_vocab and loaded.memory == built.memory
    assert loaded.temperature == built.temperature
    assert np.array_equal(loaded.char_w, built.char_w)
    assert loaded.intent_scores("cancel").argmax() == built.intent_scores("cancel").argmax()
    # Other data, other model file.
    extra = data / "en.yml"
    extra.write_text(extra.read_text(encoding="utf-8") + "", encoding="utf-8")
    assert model.data_key(data) == built.key
    extra.write_text(
        extra.read_text(encoding="utf-8").replace("- hiya\n", "- hiya there\n"), encoding="utf-8"
    )
    assert model.data_key(data) != built.key


def test_stale_models_are_pruned_and_recent_ones_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("RAABTA_DATA_DIR", raising=False)
    cache = tmp_path / "raabta"
    cache.mkdir()
    stale, recent = cache / "nlu-model-0000000000000000.npz", cache / "nlu-model-1111111111111111.npz"
    stale.write_bytes(b"old")
    recent.write_bytes(b"new")
    os.utime(stale, (1, 1))
    data = tmp_path / "train"
    shutil.copytree(TRAIN_DIR, data)
    _, path = model.build(data)
    assert path is not None and path.exists()
    assert not stale.exists() and recent.exists()


def test_without_a_writable_cache_the_model_lives_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setenv("RAABTA_DATA_DIR", str(blocker))
    data = tmp_path / "train"
    shutil.copytree(TRAIN_DIR, data)
    built, path = model.build(data)
    assert path is None
    assert built.classes


def test_a_damaged_cache_file_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("RAABTA_DATA_DIR", raising=False)
    data = tmp_path / "train"
    shutil.copytree(TRAIN_DIR, data)
    key = model.data_key(data)
    damaged = tmp_path / "raabta" / model.cache_name(key)
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"not a model")
    built, path = model.build(data)
    assert path == damaged and built.key == key
    assert model.Model.load(damaged).key == key


def test_accuracy_targets_on_the_test_split(report: object) -> None:
    from nlu.evaluate import Report

    assert isinstance(report, Report)
    assert report.intent_accuracy >= 0.95, format_report(report, errors=True)
    for language in SERVED:
        assert report.accuracy_by_language[language] >= 0.92, language
    assert report.emergency_recall >= 0.98, report.emergency_misses
    assert report.recall["self_harm"] >= 0.98, report.misses["self_harm"]
    assert report.recall["at_risk_self"] >= 0.95, report.misses["at_risk_self"]
    assert report.language_accuracy_two_words >= 0.98, report.language_errors


def test_the_test_split_measures_crisis_and_being_drawn_in_in_every_language() -> None:
    found = counts(load_dir(TEST_DIR))
    for language in SERVED:
        for intent in ("self_harm", "at_risk_self"):
            assert found.get((language, intent), 0) >= 40, (language, intent)


def test_no_emergency_comes_out_harmless(report: object) -> None:
    from nlu.evaluate import Report
    from nlu.parser import HARMLESS

    assert isinstance(report, Report)
    assert [text for text, got in report.emergency_misses if got in HARMLESS] == []
