"""The trained classifiers: intents (18 classes) and English vs Roman Urdu for Latin-script text.

Features follow Rasa's default pipeline (see nlu/rasa/config.yml): character n-grams inside word
boundaries (char_wb, 1-4) and word n-grams (1-2), each TF-IDF weighted (sublinear tf) and L2-normalised;
a linear model (multinomial logistic regression) on top. Training uses scikit-learn and is deterministic.

Confidence is calibrated by temperature scaling (Guo et al., 2017): the logits are divided by one number T,
fitted by minimising the log loss of out-of-fold predictions (3-fold cross-validation on the training data;
the test split is never used). Why temperature scaling rather than scikit-learn's CalibratedClassifierCV:
- it keeps the model one linear layer (the exported arrays and the sub-millisecond numpy inference stay;
  CalibratedClassifierCV would keep three models and an isotonic or sigmoid map per class);
- it never changes which intent comes first, only how sure the model says it is, so accuracy is untouched;
- one parameter fitted on ~3,000 out-of-fold predictions cannot overfit, where isotonic regression per
  class (18 classes, 15 to 130 examples each) would;
- the regularisation (INTENT_C) stays chosen for accuracy, the temperature for honesty.

What is kept after training is small and plain: the two vocabularies, IDF weights, the weight matrices
and intercepts, in one `.npz` file (no pickle). Inference is a few dictionary look-ups and one small
matrix product in numpy, well under a millisecond; scikit-learn is imported only to train.

The file is cached under `~/.cache/raabta` (or `$XDG_CACHE_HOME/raabta`), else `$RAABTA_DATA_DIR`, named
by a hash of the training data and this code; if no directory is writable the model lives in memory only.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nlu.data import INTENTS, TRAIN_DIR, Example, data_files, load_dir
from nlu.normalize import fold_roman, normalize, words
from responses.languages import LANGUAGES

log = logging.getLogger(__name__)

FORMAT = 2  # bump when the saved arrays change meaning (2: temperature)
CHAR_NGRAMS = (1, 4)
WORD_NGRAMS = (1, 1)
INTENT_C = 20.0  # inverse regularisation: sharp enough that clear messages clear the 0.45 bar
LANGUAGE_C = 10.0
MAX_ITER = 3000
CALIBRATION_FOLDS = 3

FloatArray = npt.NDArray[np.float32]


# --------------------------------------------------------------------------------------------------
# features


def model_text(normalized: str, language: str | None) -> str:
    """What the intent model reads: normalised text, with Roman Urdu spellings folded for Roman Urdu."""
    return fold_roman(normalized) if language == "ur-Latn" else normalized


def char_grams(tokens: Sequence[str]) -> list[str]:
    """Character n-grams of each word padded with spaces, like scikit-learn's and Rasa's `char_wb`."""
    low, high = CHAR_NGRAMS
    grams: list[str] = []
    for token in tokens:
        padded = f" {token} "
        size = len(padded)
        for n in range(low, min(high, size) + 1):
            grams.extend(padded[i : i + n] for i in range(size - n + 1))
    return grams


def word_grams(tokens: Sequence[str]) -> list[str]:
    grams = list(tokens)
    if WORD_NGRAMS[1] >= 2:
        grams.extend(f"{a} {b}" for a, b in pairwise(tokens))
    return grams


# Sublinear term frequency, 1 + log(tf), for the counts a message of up to a few hundred words has: looked up
# instead of computed for each message (two array operations fewer per part of a vector). Computed by the
# same numpy functions as the long-message path below, element by element, so the values are the same.
_SUBLINEAR: FloatArray = np.concatenate(
    [np.zeros(1, dtype=np.float32), np.log(np.arange(1, 4096, dtype=np.float32)) + np.float32(1.0)]
)


# --------------------------------------------------------------------------------------------------
# the trained model


@dataclass(frozen=True)
class Model:
    classes: tuple[str, ...]
    char_vocab: dict[str, int]
    word_vocab: dict[str, int]
    char_idf: FloatArray
    word_idf: FloatArray
    char_w: FloatArray  # (n_char, n_classes)
    word_w: FloatArray  # (n_word, n_classes)
    bias: FloatArray  # (n_classes,)
    lang_char_w: FloatArray  # (n_char,) > 0 means Roman Urdu
    lang_word_w: FloatArray
    lang_bias: float
    memory: dict[str, int]  # model text of an unambiguous training example -> class index
    key: str
    temperature: float = 1.0  # the intent logits are divided by this (calibration)

    def __post_init__(self) -> None:
        # Per-model caches: the character n-gram indices of a word (words repeat across messages), and
        # the feature vector of a text (the language and intent classifiers often read the same text).
        object.__setattr__(self, "_word_grams", lru_cache(maxsize=50_000)(self._grams_of_word))
        object.__setattr__(self, "_vector", lru_cache(maxsize=8)(self._vector_of))
        object.__setattr__(self, "_divisor", np.float32(self.temperature))  # made once, not per message

    def _grams_of_word(self, token: str) -> tuple[int, ...]:
        vocab = self.char_vocab
        return tuple(i for g in char_grams((token,)) if (i := vocab.get(g)) is not None)

    @staticmethod
    def _weights(indices: list[int], idf: FloatArray) -> tuple[npt.NDArray[np.intp], FloatArray] | None:
        if not indices:
            return None
        counts = Counter(indices)
        size = len(counts)
        index = np.fromiter(counts.keys(), dtype=np.intp, count=size)
        if len(indices) < len(_SUBLINEAR):  # no count can be past the table
            sublinear = _SUBLINEAR.take(np.fromiter(counts.values(), dtype=np.intp, count=size))
        else:
            sublinear = np.log(np.fromiter(counts.values(), dtype=np.float32, count=size)) + np.float32(1.0)
        weights: FloatArray = sublinear * idf.take(index)  # float32 throughout
        weights /= np.sqrt(np.dot(weights, weights))
        return index, weights

    def _vector_of(self, text: str) -> tuple[Any, Any]:
        """TF-IDF (sublinear, L2 per part) of `text`: (char indices, weights) and (word ...), or None."""
        tokens = words(text)
        char_indices: list[int] = []
        grams_of = self._word_grams  # type: ignore[attr-defined]
        for token in tokens:
            char_indices.extend(grams_of(token))
        vocab = self.word_vocab
        word_indices = [i for g in word_grams(tokens) if (i := vocab.get(g)) is not None]
        return self._weights(char_indices, self.char_idf), self._weights(word_indices, self.word_idf)

    def known_words(self, text: str) -> int:
        """How many words of `text` the model saw in training."""
        return sum(1 for w in words(text) if w in self.word_vocab)

    def intent_scores(self, text: str) -> FloatArray:
        """Class probabilities (in `classes` order) for one model text."""
        chars, word_part = self._vector(text)  # type: ignore[attr-defined]
        # The rows of the weights a message uses: `take` copies the same rows as indexing with the array,
        # in a third of the time on arrays this small.
        logits: FloatArray = (
            self.bias + chars[1] @ self.char_w.take(chars[0], axis=0)
            if chars is not None
            else self.bias.copy()
        )
        if word_part is not None:
            logits += word_part[1] @ self.word_w.take(word_part[0], axis=0)
        logits /= self._divisor  # type: ignore[attr-defined]
        logits -= logits.max()
        np.exp(logits, out=logits)  # in place: the same values, no new arrays
        logits /= logits.sum()
        return logits

    def roman_urdu_probability(self, normalized: str) -> float:
        """P(Roman Urdu) vs English for Latin-script normalised text."""
        chars, word_part = self._vector(normalized)  # type: ignore[attr-defined]
        score = self.lang_bias
        if chars is not None:
            score += float(chars[1] @ self.lang_char_w.take(chars[0]))
        if word_part is not None:
            score += float(word_part[1] @ self.lang_word_w.take(word_part[0]))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, score))))

    # ---- saving and loading: plain arrays, no pickle

    def save(self, path: Path) -> None:
        memory_keys = list(self.memory)
        arrays: dict[str, Any] = {
            "format": np.array([FORMAT]),
            "key": np.array([self.key]),
            "classes": np.array(self.classes),
            "char_vocab": np.array(_by_index(self.char_vocab)),
            "word_vocab": np.array(_by_index(self.word_vocab)),
            "char_idf": self.char_idf,
            "word_idf": self.word_idf,
            "char_w": self.char_w,
            "word_w": self.word_w,
            "bias": self.bias,
            "lang_char_w": self.lang_char_w,
            "lang_word_w": self.lang_word_w,
            "lang_bias": np.array([self.lang_bias]),
            "temperature": np.array([self.temperature]),
            "memory_text": np.array(memory_keys if memory_keys else [""]),
            "memory_class": np.array([self.memory[k] for k in memory_keys] if memory_keys else [-1]),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".nlu-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> Model:
        with np.load(path, allow_pickle=False) as z:
            if int(z["format"][0]) != FORMAT:
                raise ValueError(f"{path}: model format {int(z['format'][0])}, expected {FORMAT}")
            memory = {
                str(t): int(c)
                for t, c in zip(z["memory_text"].tolist(), z["memory_class"].tolist(), strict=True)
                if c >= 0
            }
            return cls(
                classes=tuple(str(c) for c in z["classes"].tolist()),
                char_vocab={g: i for i, g in enumerate(z["char_vocab"].tolist())},
                word_vocab={g: i for i, g in enumerate(z["word_vocab"].tolist())},
                char_idf=z["char_idf"],
                word_idf=z["word_idf"],
                char_w=z["char_w"],
                word_w=z["word_w"],
                bias=z["bias"],
                lang_char_w=z["lang_char_w"],
                lang_word_w=z["lang_word_w"],
                lang_bias=float(z["lang_bias"][0]),
                memory=memory,
                key=str(z["key"][0]),
                temperature=float(z["temperature"][0]),
            )


def _by_index(vocab: dict[str, int]) -> list[str]:
    ordered = [""] * len(vocab)
    for gram, index in vocab.items():
        ordered[index] = gram
    return ordered


# --------------------------------------------------------------------------------------------------
# training


def training_text(example: Example) -> str:
    """An example as the model reads it (the same preparation `nlu.parse` applies to a message)."""
    from nlu.parser import prepare  # the parser owns message preparation; imported late (cycle)

    return prepare(example.text, example.language).model_text


def data_key(train_dir: Path = TRAIN_DIR) -> str:
    """Hash of the training files and of the code that turns them into a model."""
    digest = hashlib.sha256()
    digest.update(
        f"format={FORMAT};char={CHAR_NGRAMS};word={WORD_NGRAMS};C={INTENT_C},{LANGUAGE_C};"
        f"folds={CALIBRATION_FOLDS}".encode()
    )
    here = Path(__file__).parent
    for source in ("model.py", "normalize.py", "parser.py", "data.py"):
        digest.update((here / source).read_bytes())
    for path in data_files(train_dir):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for package in ("scikit-learn", "numpy"):  # the trainers (read from metadata: importing costs ~1 s)
        with contextlib.suppress(metadata.PackageNotFoundError):
            digest.update(f"{package}={metadata.version(package)}".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Fitted:
    """A trained model with the scikit-learn objects it was exported from (to check the export)."""

    model: Model
    features: Any  # callable: list of texts -> sparse feature rows
    intents: Any  # LogisticRegression
    languages: Any  # LogisticRegression
    temperature: float  # fitted on out-of-fold predictions


def softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Row-wise softmax of a (rows, classes) array."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: npt.NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
    return result


def fit_temperature(logits: npt.NDArray[np.float64], labels: npt.NDArray[np.intp]) -> float:
    """The T > 0 that minimises the log loss of softmax(logits / T) (a convex problem in 1/T)."""
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(labels))

    def loss(log_t: float) -> float:
        probabilities = softmax(logits / math.exp(log_t))
        return float(-np.mean(np.log(np.clip(probabilities[rows, labels], 1e-12, 1.0))))

    found = minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded", options={"xatol": 1e-4})
    return round(math.exp(float(found.x)), 4)


def out_of_fold_logits(make: Any, x: Any, labels: list[int], folds: int) -> npt.NDArray[np.float64]:
    """Each example's logits from a model trained without it (stratified, seeded folds)."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    classes = np.unique(y)
    logits = np.zeros((len(y), len(classes)))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for train_rows, test_rows in splitter.split(np.zeros(len(y)), y):
        model = make().fit(x[train_rows], y[train_rows])
        columns = np.searchsorted(classes, model.classes_)
        logits[np.ix_(test_rows, columns)] = model.decision_function(x[test_rows])
    return logits


def train(train_dir: Path = TRAIN_DIR, key: str | None = None) -> Model:
    """Fit both classifiers on every example in `train_dir`. Deterministic: same data, same model."""
    return fit(train_dir, key).model


def fit(train_dir: Path = TRAIN_DIR, key: str | None = None) -> Fitted:
    """`train`, keeping the scikit-learn objects."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    examples = [e for e in load_dir(train_dir) if e.language in LANGUAGES]
    if not examples:
        raise ValueError(f"no training examples in {train_dir}")
    texts = [training_text(e) for e in examples]
    labels = [INTENTS.index(e.intent) for e in examples]
    latin = [e for e in examples if e.language in ("en", "ur-Latn")]
    latin_texts = [normalize(e.text) for e in latin]  # unfolded: "he" and "me" are English words

    def vectorizer(analyzer: Any) -> Any:
        return TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, lowercase=False, dtype=np.float32)

    chars = vectorizer(lambda t: char_grams(words(t)))
    word_vec = vectorizer(lambda t: word_grams(words(t)))
    everything = texts + latin_texts
    chars.fit(everything)
    word_vec.fit(everything)

    def features(batch: list[str]) -> Any:
        return hstack([chars.transform(batch), word_vec.transform(batch)]).tocsr()

    def intent_model() -> Any:
        # newton-cg: the same optimum as lbfgs (the loss is strictly convex) in a third of the time here,
        # which pays for the calibration folds.
        return LogisticRegression(
            C=INTENT_C, max_iter=MAX_ITER, class_weight="balanced", random_state=0, solver="newton-cg"
        )

    intents = intent_model()
    languages = LogisticRegression(C=LANGUAGE_C, max_iter=MAX_ITER, random_state=0)
    x = features(texts)
    # One BLAS thread: on small problems more threads only fight (4x slower on 2 cores), and one
    # thread gives the same result on every machine.
    with threadpool_limits(limits=1):
        intents.fit(x, labels)
        languages.fit(features(latin_texts), [int(e.language == "ur-Latn") for e in latin])
        held_out = out_of_fold_logits(intent_model, x, labels, CALIBRATION_FOLDS)
    classes_seen = np.unique(np.asarray(labels))
    temperature = fit_temperature(held_out, np.searchsorted(classes_seen, np.asarray(labels)))

    n_char = len(chars.vocabulary_)
    coef = intents.coef_.T.astype(np.float32)  # (features, classes)
    lang = languages.coef_[0].astype(np.float32)
    classes = tuple(INTENTS[int(c)] for c in intents.classes_)

    seen: dict[str, set[int]] = {}
    for text, label in zip(texts, labels, strict=True):
        seen.setdefault(text, set()).add(classes.index(INTENTS[label]))
    memory = {text: next(iter(found)) for text, found in seen.items() if len(found) == 1 and text}

    exported = Model(
        classes=classes,
        char_vocab={str(g): int(i) for g, i in chars.vocabulary_.items()},
        word_vocab={str(g): int(i) for g, i in word_vec.vocabulary_.items()},
        char_idf=chars.idf_.astype(np.float32),
        word_idf=word_vec.idf_.astype(np.float32),
        char_w=np.ascontiguousarray(coef[:n_char]),
        word_w=np.ascontiguousarray(coef[n_char:]),
        bias=intents.intercept_.astype(np.float32),
        lang_char_w=np.ascontiguousarray(lang[:n_char]),
        lang_word_w=np.ascontiguousarray(lang[n_char:]),
        lang_bias=float(languages.intercept_[0]),
        memory=memory,
        key=key or data_key(train_dir),
        temperature=temperature,
    )
    return Fitted(exported, features, intents, languages, temperature)


# --------------------------------------------------------------------------------------------------
# the cache


def cache_dirs() -> list[Path]:
    """Where a trained model is looked for and written, in order."""
    dirs = []
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    dirs.append(base / "raabta")
    data_dir = os.environ.get("RAABTA_DATA_DIR")
    if data_dir:
        dirs.append(Path(data_dir) / "cache")
    return dirs


def cache_name(key: str) -> str:
    return f"nlu-model-{key}.npz"


def cached_path(key: str) -> Path | None:
    for directory in cache_dirs():
        path = directory / cache_name(key)
        if path.is_file():
            return path
    return None


STALE_SECONDS = 86_400  # models of other data or code, untouched this long, are deleted


def _prune(directory: Path, keep: Path) -> None:
    """Delete cached models of other data or code versions that nobody has written for a day."""
    now = time.time()
    for old in directory.glob("nlu-model-*.npz"):
        with contextlib.suppress(OSError):
            if old != keep and now - old.stat().st_mtime > STALE_SECONDS:
                old.unlink()


def save_to_cache(model: Model) -> Path | None:
    for directory in cache_dirs():
        try:
            path = directory / cache_name(model.key)
            model.save(path)
            _prune(directory, path)
            return path
        except OSError as exc:
            log.debug("nlu_cache_unwritable", extra={"fields": {"dir": str(directory), "error": str(exc)}})
    log.warning("nlu_model_not_cached", extra={"fields": {"dirs": ",".join(map(str, cache_dirs()))}})
    return None


def build(train_dir: Path = TRAIN_DIR, use_cache: bool = True) -> tuple[Model, Path | None]:
    """The model for `train_dir`: from the cache when it is there, else trained now (and cached)."""
    key = data_key(train_dir)
    if use_cache:
        path = cached_path(key)
        if path is not None:
            try:
                return Model.load(path), path
            except (OSError, ValueError, KeyError) as exc:
                log.warning("nlu_cache_unreadable", extra={"fields": {"path": str(path), "error": str(exc)}})
    started = time.perf_counter()
    model = train(train_dir, key)
    log.info("nlu_model_trained", extra={"fields": {"seconds": round(time.perf_counter() - started, 2)}})
    return model, save_to_cache(model) if use_cache else None


_model: Model | None = None
_lock = threading.Lock()


def get() -> Model:
    """The shared model, loaded (or trained) on first use."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = build()[0]
    return _model


def reset() -> None:
    """Forget the loaded model (tests, `raabta nlu train`)."""
    global _model
    with _lock:
        _model = None
