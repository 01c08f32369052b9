"""Which recruiter's claim a question is about: the nearest claim of responses/claims.yaml.

People ask about the same claim in many ways and three languages ("جمہوریت حرام ہے؟", "ye log kehte hain
jamhooriyat kufr hai", "is voting shirk?"). The intent classifier at best says "counter_narrative"; this
matcher says which claim. It is built when first asked (under a second), from the claims' own example
phrasings and keywords: the YAML is the training data, and adding a phrasing there is how to teach it.

Features are those of the intent model (nlu/model.py) on the same normalised text (nlu/normalize.py:
Urdu letter forms, case, Roman Urdu spellings folded): character n-grams inside word boundaries, which
carry "jamhooriyat" / "jamhuriat" / "jamhoriyat" to one another, and words and word pairs, each TF-IDF
weighted (sublinear tf) and L2-normalised. A claim scores by three things, weighted by WEIGHTS:
- the cosine to the claim's centroid (the mean of its examples): what the claim is generally about;
- the mean cosine to its NEAREST closest examples: a phrasing very like one we wrote;
- its keywords found in the text (whole words in order, `*` a prefix, as the Learn cards' keywords).
The first two together are the text's "likeness" to the claim.

A "none" class holds questions about no claim: `_not_claims` of the YAML ("how do I pay zakat", "when
should I call the police") and the intent model's training examples of every other path (a page to
report, a worried parent, a greeting, a threat), which share topic words with claims without being one.
`sure`: take the best claim at its word. Its score is at least SURE, ahead of the second claim and of
"none" by MARGIN, and the text reads more like it than like "none" without the help of keywords (a
topic word alone, "police", "vote", is no claim). `near`: plausibly one of the two best, which the bot then
offers ("not sure which you mean") instead of guessing.

Why not a classifier like the intent model's: twenty-odd classes of a dozen examples each, several close
to one another (takfir of Muslims, of other sects), and an answer that must be able to say "not sure".
Distances to examples keep their meaning as claims are added; a classifier's probabilities spread over
whatever classes exist. `raabta nlu eval` measures it on phrasings held out apart (nlu/data/claims/).
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from nlu.data import INTENTS, TRAIN_DIR, load_dir
from nlu.model import char_grams
from nlu.normalize import normalize, tokens
from responses.claims import Library

NONE = "_none"  # the class of questions about no claim
# The intents whose training examples are about no claim ("none"): all but the counter-narrative questions.
NOT_CLAIM_INTENTS = frozenset(INTENTS) - {"counter_narrative"}
NEAREST = 2  # examples averaged for the nearest-example score
WEIGHTS = (0.4, 0.3, 0.3)  # centroid, nearest examples, keywords
KEYWORDS_FULL = 2  # keywords found for the full keyword score
SURE = 0.34  # a best score this high ...
MARGIN = 0.045  # ... this far ahead of the second claim and of "none" is taken at its word
NEAR = 0.2  # below this, the text is about no claim at all
NEAR_LIKENESS = 0.8  # and "near" reads at least this much like the claim as like a question about nothing
CHAR_WEIGHT = 0.8  # the share of character n-grams in a text's vector (words take the rest)

Vector = dict[str, float]


def features(text: str) -> tuple[Counter[str], Counter[str]]:
    """Character n-grams and words (unigrams and bigrams) of the normalised text."""
    words = tokens(normalize(text))
    chars = Counter(char_grams(words))
    grams = Counter(words)
    grams.update(f"{a} {b}" for a, b in pairwise(words))
    return chars, grams


def _weighted(counts: Counter[str], idf: Mapping[str, float], prefix: str) -> Vector:
    vector = {f"{prefix}{g}": (1.0 + math.log(n)) * idf[g] for g, n in counts.items() if g in idf}
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {g: v / norm for g, v in vector.items()} if norm else {}


def _phrase(phrase: str) -> tuple[tuple[str, ...], bool]:
    prefix = phrase.rstrip().endswith("*")
    return tuple(tokens(normalize(phrase.rstrip().rstrip("*")))), prefix


def _found(words: Sequence[str], wanted: tuple[str, ...], prefix: bool) -> bool:
    """The phrase's words in the text, in order and next to each other (as bot.dialogue.words)."""
    size = len(wanted)
    if not size:
        return False
    for start in range(len(words) - size + 1):
        window = words[start : start + size]
        if tuple(window[:-1]) != wanted[:-1]:
            continue
        if window[-1] == wanted[-1] or (prefix and window[-1].startswith(wanted[-1])):
            return True
    return False


@dataclass(frozen=True, slots=True)
class ClaimMatch:
    """The claims nearest a text, best first, with their scores; and how sure that is."""

    ranking: tuple[tuple[str, float], ...]
    none: float = 0.0  # the score of "about no claim"
    likeness: float = 0.0  # the best claim's score without its keywords: how much the text reads like it

    @property
    def best(self) -> str | None:
        return self.ranking[0][0] if self.ranking else None

    @property
    def score(self) -> float:
        return self.ranking[0][1] if self.ranking else 0.0

    @property
    def second(self) -> str | None:
        return self.ranking[1][0] if len(self.ranking) > 1 else None

    @property
    def margin(self) -> float:
        """How far the best is ahead of the second claim and of "none"."""
        runner = max(self.ranking[1][1] if len(self.ranking) > 1 else 0.0, self.none)
        return self.score - runner

    @property
    def sure(self) -> bool:
        """Ahead of the rest, and reading more like the claim than like a question about nothing: a topic
        word alone ("police", "zakat", "vote") is no claim ("kab police ko batana chahiye?")."""
        return self.score >= SURE and self.margin >= MARGIN and self.likeness > self.none

    @property
    def near(self) -> bool:
        """About one of the two best, plausibly: worth offering both rather than guessing. Not when only a
        topic word ties it to a claim ("how do I pay zakat", "should I vote for PTI")."""
        return self.score >= NEAR and self.score > self.none and self.likeness >= NEAR_LIKENESS * self.none

    def two(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.ranking[:2])


class ClaimMatcher:
    """Nearest claim over TF-IDF features, built from example phrasings and keywords per claim.

    The examples are rows of one sparse matrix, so a text is compared with every example, of the claims
    and of "none", in one product: a few milliseconds with thousands of "none" examples. The matrix is
    three numpy arrays (`Rows`), not SciPy's: importing scipy.sparse in the server only for this product
    cost 14 MB of its memory (issue 23); `Rows.dot` adds the same products in the same order as SciPy's
    sparse product did, so every score is the same to the last bit (tests/test_claims_rows.py)."""

    def __init__(
        self,
        examples: Mapping[str, Sequence[str]],
        keywords: Mapping[str, Sequence[str]] | None = None,
        none: Sequence[str] = (),
    ) -> None:
        keywords = keywords or {}
        self.claims = tuple(examples)
        self.classes = (*self.claims, NONE)
        labelled = [(name, text) for name, texts in examples.items() for text in texts]
        labelled += [(NONE, text) for text in none]
        # Two passes over the texts, each text's features made, used and dropped: first the document
        # frequencies, then the rows, written into C arrays. Keeping every text's n-gram counters for the
        # second pass (about 50 MB of small objects for ~3,500 texts) left the process 60 MB larger for
        # good: the allocator cannot give back arenas that a few surviving objects still pin.
        self.char_idf, self.word_idf = _idfs(features(text) for _, text in labelled)
        self.index = {f"c:{g}": at for at, g in enumerate(self.char_idf)}
        self.index.update({f"w:{g}": len(self.index) + at for at, g in enumerate(self.word_idf)})
        columns, values, starts = array("l"), array("d"), array("l", [0])
        for _, text in labelled:
            for gram, value in self._weights(*features(text)).items():
                columns.append(self.index[gram])
                values.append(value)
            starts.append(len(columns))
        self.width = max(len(self.index), 1)
        self.matrix = Rows(
            np.frombuffer(values, dtype=np.float64),
            np.frombuffer(columns, dtype=np.intp),
            np.frombuffer(starts, dtype=np.intp),
        )
        position = {name: at for at, name in enumerate(self.classes)}
        labels = np.array([position[name] for name, _ in labelled], dtype=np.intp)
        self.members = [np.flatnonzero(labels == at) for at in range(len(self.classes))]
        self.centroids = self.matrix.centroids(labels, len(self.classes), self.width)
        self.keywords = {name: tuple(_phrase(k) for k in keywords.get(name, ())) for name in self.claims}
        self.match = lru_cache(maxsize=512)(self._match)

    def _weights(self, chars: Counter[str], words: Counter[str]) -> Vector:
        char_part = _weighted(chars, self.char_idf, "c:")
        word_part = _weighted(words, self.word_idf, "w:")
        scale_char = math.sqrt(CHAR_WEIGHT)
        scale_word = math.sqrt(1.0 - CHAR_WEIGHT)
        vector = {g: v * scale_char for g, v in char_part.items()}
        vector.update({g: v * scale_word for g, v in word_part.items()})
        return vector

    def vector(self, text: str) -> Floats:
        """The text as a dense vector over the features (features no example has are left out)."""
        found = {self.index[g]: v for g, v in self._weights(*features(text)).items() if g in self.index}
        vector = np.zeros(self.width, dtype=np.float64)
        vector[np.fromiter(found.keys(), dtype=np.intp, count=len(found))] = np.fromiter(
            found.values(), dtype=np.float64, count=len(found)
        )
        return vector

    def _match(self, text: str) -> ClaimMatch:
        row = self.vector(text)
        to_centroids = self.centroids.dot(row)
        to_examples = self.matrix.dot(row)
        words = tokens(normalize(text))
        a, b, c = WEIGHTS
        scores: list[tuple[float, float]] = []  # (score, likeness) per class
        for at, name in enumerate(self.classes):
            members = self.members[at]
            near = np.sort(to_examples[members])[-NEAREST:] if len(members) else np.zeros(1)
            keywords = self.keywords.get(name, ())
            hits = sum(_found(words, wanted, prefix) for wanted, prefix in keywords)
            by_words = min(hits, KEYWORDS_FULL) / KEYWORDS_FULL
            likeness = a * float(to_centroids[at]) + b * float(near.mean())
            scores.append((likeness + c * by_words, likeness))
        none = scores.pop()[0] if len(self.members[-1]) else 0.0
        ranked = sorted(zip(self.claims, scores, strict=True), key=lambda kv: -kv[1][0])
        likeness = ranked[0][1][1] if ranked else 0.0
        return ClaimMatch(
            tuple((name, round(score, 4)) for name, (score, _) in ranked), round(none, 4), round(likeness, 4)
        )


def _idfs(
    documents: Iterable[tuple[Counter[str], Counter[str]]],
) -> tuple[dict[str, float], dict[str, float]]:
    """Smoothed inverse document frequencies of character n-grams and of words, as scikit-learn's
    TfidfVectorizer, from one pass over the documents' features."""
    chars: Counter[str] = Counter()
    words: Counter[str] = Counter()
    count = 0
    for char_counts, word_counts in documents:
        count += 1
        chars.update(char_counts.keys())
        words.update(word_counts.keys())

    def idf(seen: Counter[str]) -> dict[str, float]:
        return {g: math.log((1 + count) / (1 + n)) + 1.0 for g, n in seen.items()}

    return idf(chars), idf(words)


Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Rows:
    """Sparse rows (compressed sparse row layout): row r's values are `values[starts[r]:starts[r + 1]]`,
    in the columns `columns[...]` of the same slice. Columns are np.intp, not int32 as SciPy keeps them:
    1.5 MB more, but gathering the vector's values by them takes half the time (0.6 ms, not 1.2).

    The arithmetic is SciPy's, step for step, so that scores are the same to the last bit as when the
    matrix was a `scipy.sparse.csr_matrix`: a product with a vector adds each row's products in the
    row's own order, starting from 0.0 (`np.bincount` adds its weights in order, as SciPy's loop does);
    a sum of rows adds them row after row; a norm is `np.sum` of the squares; a division by the norm
    is a multiplication by its reciprocal."""

    values: Floats
    columns: Ints
    starts: Ints

    def dot(self, vector: Floats) -> Floats:
        """Each row's dot product with a dense vector. Each value's row is made here, not kept: 0.2 ms
        a call for ~380,000 values, where keeping it would hold 3 MB."""
        rows = len(self.starts) - 1
        row_of = np.repeat(np.arange(rows, dtype=np.intp), np.diff(self.starts))
        sums = np.bincount(row_of, weights=self.values * vector[self.columns], minlength=rows)
        return sums.astype(np.float64, copy=False)  # float64 already (weights): no copy

    def centroids(self, labels: Ints, count: int, width: int) -> Rows:
        """Row k: the sum of the rows labelled k (in their order), L2-normalised, its columns ascending."""
        label_of = np.repeat(labels, np.diff(self.starts))  # each value's row's label
        values: list[Floats] = []
        columns: list[Ints] = []
        for label in range(count):
            at = np.flatnonzero(label_of == label)
            total = np.bincount(self.columns[at], weights=self.values[at], minlength=width)
            found = np.flatnonzero(total)
            sums: Floats = total[found].astype(np.float64, copy=False)
            norm = math.sqrt(float(np.sum(sums * sums)))
            values.append(sums * (1 / norm) if norm else sums)
            columns.append(found)
        starts = np.zeros(count + 1, dtype=np.intp)
        np.cumsum([len(v) for v in values], out=starts[1:])
        return Rows(
            np.concatenate(values) if values else np.zeros(0, dtype=np.float64),
            np.concatenate(columns) if columns else np.zeros(0, dtype=np.intp),
            starts,
        )


def not_claims(library: Library, intents: frozenset[str] = NOT_CLAIM_INTENTS) -> tuple[str, ...]:
    """What "none" learns from: the library's own questions about no claim, and the intent model's training
    examples of every other path (a page to report, a worried parent, a greeting, a threat), which share
    words with claims ("police", "my son", "paise") without being about one."""
    trained = tuple(e.text for e in load_dir(TRAIN_DIR) if e.intent in intents)
    return (*library.not_claims, *trained)


@lru_cache(maxsize=4)
def matcher_for(library: Library) -> ClaimMatcher:
    """The matcher of a claims library (responses.claims), built once per library."""
    return ClaimMatcher(
        {claim.id: claim.phrasings() for claim in library.claims},
        {claim.id: claim.all_keywords() for claim in library.claims},
        not_claims(library),
    )
