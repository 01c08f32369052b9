"""The claims matcher's sparse rows (nlu.claims.Rows): the same scores, to the last bit, as the SciPy sparse
matrices they replaced, so that the server loads no SciPy (issue 23's memory target:
tests/test_serve_memory.py).

SciPy stays a dependency of training (scikit-learn), so the reference computation below is SciPy's own,
written as nlu/claims.py wrote it before.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import sparse

from nlu.claims import ClaimMatcher, Rows, features, matcher_for
from nlu.data import TRAIN_DIR, load_dir
from responses import catalog

# Questions about claims, about no claim, code-mixed, one word, no known feature at all.
TEXTS = (
    "جمہوریت حرام ہے؟",
    "is it true that killing non muslims in a 'kafir' country is jihad?",
    "ye log kehte hain jamhooriyat kufr hai, is baat ka jawab kya hai",
    "polio ke qatre haram hain?",
    "how do I pay zakat",
    "kab police ko batana chahiye?",
    "democracy",
    "12 34",
    "",
    "zzzz qqqq",
)


@pytest.fixture(scope="module")
def matcher() -> ClaimMatcher:
    library = catalog().claims
    assert library is not None
    return matcher_for(library)


def as_scipy(rows: Rows, width: int) -> Any:
    return sparse.csr_matrix((rows.values, rows.columns, rows.starts), shape=(len(rows.starts) - 1, width))


def scipy_centroid(rows: Any) -> Any:
    """nlu/claims.py's `_centroid` as it was on SciPy."""
    total = sparse.csr_matrix(rows.sum(axis=0))
    norm = math.sqrt(float(total.multiply(total).sum()))
    return total / norm if norm else total


def scipy_row(matcher: ClaimMatcher, text: str) -> Any:
    """`ClaimMatcher.vector` as it was on SciPy: a 1 x features sparse row."""
    found = {matcher.index[g]: v for g, v in matcher._weights(*features(text)).items() if g in matcher.index}
    columns = np.fromiter(found.keys(), dtype=np.intp, count=len(found))
    values = np.fromiter(found.values(), dtype=np.float64, count=len(found))
    return sparse.csr_matrix(
        (values, (np.zeros(len(found), dtype=np.intp), columns)), shape=(1, matcher.width)
    )


def texts() -> list[str]:
    library = catalog().claims
    assert library is not None
    found = list(TEXTS)
    for claim in library.claims:
        found.extend(claim.phrasings()[:3])
    found.extend(e.text for e in load_dir(TRAIN_DIR)[::40])
    return found


def test_the_centroids_are_scipys_to_the_last_bit(matcher: ClaimMatcher) -> None:
    examples = as_scipy(matcher.matrix, matcher.width)
    expected = sparse.vstack([scipy_centroid(examples[rows]) for rows in matcher.members]).tocsr()
    assert np.array_equal(expected.indptr, matcher.centroids.starts)
    assert np.array_equal(expected.indices, matcher.centroids.columns)
    assert expected.data.tobytes() == matcher.centroids.values.tobytes()


def test_every_score_is_scipys_to_the_last_bit(matcher: ClaimMatcher) -> None:
    examples = as_scipy(matcher.matrix, matcher.width)
    centroids = as_scipy(matcher.centroids, matcher.width)
    for text in texts():
        row = scipy_row(matcher, text)
        assert np.array_equal(row.toarray().ravel(), matcher.vector(text)), text
        dense = matcher.vector(text)
        expected = (examples @ row.T).toarray().ravel()
        assert expected.tobytes() == matcher.matrix.dot(dense).tobytes(), text
        expected = (centroids @ row.T).toarray().ravel()
        assert expected.tobytes() == matcher.centroids.dot(dense).tobytes(), text


def test_a_class_without_examples_has_an_empty_centroid() -> None:
    matcher = ClaimMatcher({"a": ["democracy is kufr"], "b": []}, {}, ["hello there"])
    starts = matcher.centroids.starts.tolist()
    assert starts[1] == starts[2] < starts[3]  # b's row is empty, "none" has one
    match = matcher.match("democracy")
    # What the SciPy matrices gave for the same examples.
    assert (match.ranking, match.none, match.likeness) == ((("a", 0.5049), ("b", 0.0)), 0.0575, 0.5049)
