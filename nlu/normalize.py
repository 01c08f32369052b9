"""Text normalisation before classification: one form for the many ways people type the same words."""

from __future__ import annotations

import re
import unicodedata

# Arabic letter variants typed on Arabic keyboards -> the Urdu letters.
_URDU_LETTERS = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "ه": "ہ", "ة": "ہ", "ـ": None})
# Zero-width and bidirectional control characters.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ELONGATED = re.compile(r"([^\W\d_])\1{2,}")
_SPACES = re.compile(r"\s+")

# Common Roman Urdu spelling variants -> one spelling.
ROMAN_VARIANTS = {
    "nahin": "nahi",
    "nai": "nahi",
    "nahe": "nahi",
    "nhi": "nahi",
    "ni": "nahi",
    "he": "hai",
    "hy": "hai",
    "hay": "hai",
    "ha": "hai",
    "kia": "kya",
    "kiya": "kya",
    "mujhay": "mujhe",
    "mjhe": "mujhe",
    "mujhy": "mujhe",
    "krna": "karna",
    "karni": "karna",
    "krni": "karna",
    "karna hy": "karna hai",
    "kr": "kar",
    "kro": "karo",
    "krdo": "kardo",
    "krein": "karein",
    "karen": "karein",
    "yeh": "ye",
    "yah": "ye",
    "yh": "ye",
    "mein": "main",
    "mai": "main",
    "me": "main",
    "mn": "main",
    "ap": "aap",
    "apka": "aapka",
    "plz": "please",
    "pls": "please",
    "bhae": "bhai",
    "bhaii": "bhai",
}


def strip_marks(text: str) -> str:
    """Drop Arabic diacritics (harakat) and other combining marks."""
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("M"))


def normalize(text: str) -> str:
    """NFKC, Urdu letter forms, no diacritics or invisible controls, folded case and elongations."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = strip_marks(text.translate(_URDU_LETTERS))
    text = _ELONGATED.sub(r"\1", text.casefold())
    return _SPACES.sub(" ", text).strip()


def tokens(normalized: str) -> list[str]:
    """Word tokens with Roman Urdu spelling variants folded together."""
    words = re.findall(r"[^\W_]+", normalized)
    return [ROMAN_VARIANTS.get(w, w) for w in words]
