"""Reference codes: random Crockford base32, shown XXXX-XXXX, read leniently."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nlu.refcode import ALPHABET, find_codes, new_code, parse_code

SHAPE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def test_new_codes_have_the_shape_and_do_not_repeat() -> None:
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(SHAPE.match(c) for c in codes)
    assert not set("ILOU") & set("".join(codes))
    assert all(re.search(r"\d", c) and re.search(r"[A-Z]", c) for c in codes)


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("ABCD-1234", "ABCD-1234"),
        ("abcd-1234", "ABCD-1234"),
        ("abcd1234", "ABCD-1234"),
        (" abcd 1234 ", "ABCD-1234"),
        ("ABCD–1234", "ABCD-1234"),
        ("0OIL-1234", "0011-1234"),  # Crockford reads O as 0 and I, L as 1
        ("ABCD-123", None),
        ("ABCD-12345", None),
        ("ABCU-1234", None),
        ("", None),
        ("یہ کوڈ", None),
    ],
)
def test_typed_codes_are_read_leniently(typed: str, code: str | None) -> None:
    assert parse_code(typed) == code


def test_codes_are_found_in_sentences_but_words_are_not_codes() -> None:
    assert [c for _, _, c in find_codes("status k7qm2xd9 please")] == ["K7QM-2XD9"]
    assert [c for _, _, c in find_codes("mera code ABCD-EFGH hai")] == ["ABCD-EFGH"]
    assert find_codes("facebook mera code") == []
    assert find_codes("report this page please") == []


MIXED = st.text(alphabet=ALPHABET, min_size=8, max_size=8).filter(
    lambda raw: any(c.isdigit() for c in raw) and any(c.isalpha() for c in raw)
)


@given(MIXED.map(lambda raw: f"{raw[:4]}-{raw[4:]}"))
def test_a_code_of_the_shape_new_code_makes_is_found_however_it_is_typed(code: str) -> None:
    for typed in (code, code.lower(), code.replace("-", ""), code.lower().replace("-", " ")):
        assert [c for _, _, c in find_codes(f"status {typed}")] == [code]
