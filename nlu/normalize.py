"""Text normalisation before classification: one form for the many ways people type the same words.

- `clean`: NFKC, no zero-width or bidi controls, no control characters, single spaces. Letters untouched:
  language identification needs to see Arabic letters as typed.
- `strip_bidi`: only the bidi controls removed (isolates U+2066–U+2069, embeddings and overrides
  U+202A–U+202E, marks U+200E, U+200F), nothing else moved: the bot's Urdu texts isolate numbers, codes and
  links (responses/bidi.py), so a code or number copied from them comes back wrapped in these.
- `normalize`: `clean`, then Arabic letter variants to Urdu ones (ي/ی, ك/ک, ه/ہ, ى/ی, ة/ہ), no
  diacritics or tatweel, Eastern digits to ASCII, case folded, elongations cut ("pleaseee" -> "please").
- `fold_roman`: Roman Urdu spelling variants to one spelling (nahin/nai -> nahi, he/hy -> hai, kia -> kya,
  mujhay -> mujhe, krna -> karna, ...). Only for text already known to be Roman Urdu: "he" and "me" are
  English words too. "kiya" is also the verb "did": before "ja", "gaya" ... ("bharti kiya ja raha hai",
  "report kiya gaya") it stays, since it is not "kya" (what) there.

Each function is idempotent: applying it twice gives the same text as applying it once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

# Arabic letter variants typed on Arabic keyboards -> the Urdu letters; tatweel dropped; digits to ASCII.
_URDU_LETTERS = str.maketrans(
    {
        "ي": "ی",
        "ى": "ی",
        "ې": "ی",
        "ك": "ک",
        "ه": "ہ",
        "ة": "ہ",
        "ۃ": "ہ",
        "ـ": None,
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Extended Arabic-Indic (Urdu) digits
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
    }
)
# Bidirectional controls: the isolates (LRI RLI FSI PDI), embeddings and overrides, LRM and RLM.
BIDI_CONTROLS = "\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u202e\u200e\u200f"
_NO_BIDI = str.maketrans(dict.fromkeys(BIDI_CONTROLS))
# Zero-width and bidirectional control characters (all of BIDI_CONTROLS), soft hyphen, BOM, Arabic letter
# mark.
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ELONGATED = re.compile(r"([^\W\d_])\1{2,}")
# Combining marks seen in practice (Latin accents, Arabic harakat and Quranic marks); any other mark is
# caught by the slower category check, run only on text that still has non-ASCII characters.
_MARKS = re.compile(
    "[\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed]"
)
_WORD = re.compile(r"[^\W_]+")
# ASCII and the Arabic block: text made only of these, with no marks left, is already a fixpoint.
_SAFE = re.compile("[\x00-\x7f\u0600-\u06ff]*")
_UNSAFE = re.compile("[^\x00-\x7f\u0600-\u06ff]")

# Common Roman Urdu spelling variants -> one spelling. No value is also a key, so folding is idempotent.
ROMAN_VARIANTS = {
    "nahin": "nahi",
    "nai": "nahi",
    "nahe": "nahi",
    "nahee": "nahi",
    "nhi": "nahi",
    "nahy": "nahi",
    "ni": "nahi",
    "he": "hai",
    "hy": "hai",
    "hay": "hai",
    "ha": "hai",
    "hae": "hai",
    "hen": "hain",
    "hein": "hain",
    "hn": "hain",
    "kia": "kya",
    "kiya": "kya",
    "kyaa": "kya",
    "mujhay": "mujhe",
    "mjhe": "mujhe",
    "mujhy": "mujhe",
    "mujhey": "mujhe",
    "mje": "mujhe",
    "krna": "karna",
    "karni": "karna",
    "krni": "karna",
    "kr": "kar",
    "kro": "karo",
    "krdo": "kardo",
    "krein": "karein",
    "karen": "karein",
    "kren": "karein",
    "rha": "raha",
    "rhi": "rahi",
    "rhe": "rahe",
    "rahay": "rahe",
    "yeh": "ye",
    "yah": "ye",
    "yh": "ye",
    "mein": "main",
    "mai": "main",
    "me": "main",
    "mn": "main",
    "ap": "aap",
    "apka": "aapka",
    "apki": "aapki",
    "plz": "please",
    "pls": "please",
    "plx": "please",
    "bhae": "bhai",
    "bhaii": "bhai",
    "bohot": "bohat",
    "bahut": "bohat",
    "bht": "bohat",
    "boht": "bohat",
    "shukria": "shukriya",
    "shukriyah": "shukriya",
    "thik": "theek",
    "theak": "theek",
    "thek": "theek",
    "accha": "acha",
    "achha": "acha",
    "kese": "kaise",
    "kaisay": "kaise",
    "kaisey": "kaise",
    "hoon": "hun",
    "wapis": "wapas",
    "jehad": "jihad",
    "shikait": "shikayat",
    "shikayet": "shikayat",
    "zuban": "zaban",
    "zabaan": "zaban",
    "khatrah": "khatra",
    "khatara": "khatra",
    "humla": "hamla",
    "bachha": "bacha",
    "bachcha": "bacha",
    "fikr": "fikar",
    "h": "hai",
    "btao": "batao",
    "skte": "sakte",
    "phr": "phir",
    "nahii": "nahi",
}

# Emoji that answer on their own (👍 yes, 👎 no, 🙏 thanks ...) -> a word the intent model reads, so "👍",
# "ok 👍" and "nahi 👎" are understood like the words people type with them. Only for the model text:
# language identification never sees these words. Skin tones and variation selectors are dropped first.
EMOJI_WORDS = {
    "👍": "emojithumbsup",
    "👌": "emojiokhand",
    "✅": "emojicheck",
    "✔": "emojicheck",
    "☑": "emojicheck",
    "🆗": "emojiokhand",
    "👎": "emojithumbsdown",
    "❌": "emojicross",
    "✖": "emojicross",
    "🚫": "emojicross",
    "🙏": "emojipray",
    "🤲": "emojipray",
    "👋": "emojiwave",
    "🚩": "emojiflag",
    "😂": "emojilaugh",
    "🤣": "emojilaugh",
    "😭": "emojicry",
    "😢": "emojicry",
    "🔥": "emojifire",
    "🏏": "emojicricket",
}
_EMOJI = re.compile("|".join(re.escape(e) for e in sorted(EMOJI_WORDS, key=len, reverse=True)))
_EMOJI_MODIFIERS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0e\ufe0f]")


def strip_marks(text: str) -> str:
    """Drop Arabic diacritics (harakat) and other combining marks."""
    text = _MARKS.sub("", text)
    if _SAFE.fullmatch(text):
        return text
    return _UNSAFE.sub(lambda m: "" if unicodedata.category(m.group(0)).startswith("M") else m.group(0), text)


def strip_bidi(text: str) -> str:
    """`text` without bidi controls (what a copied Urdu reply wraps numbers and codes in); idempotent."""
    return text.translate(_NO_BIDI)


def _clean_once(text: str) -> str:
    if not text.isascii():  # (ASCII text is its own NFKC form and has no invisible character)
        text = unicodedata.normalize("NFKC", text)
        text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    return _single_spaced(text)


def _single_spaced(text: str) -> str:
    """Runs of white space made one space, none at either end (what `re.sub(r"\\s+", " ", text).strip()`
    gives: str.split and the pattern's \\s both take the characters str.isspace calls white space), without
    a substitution at every single space."""
    return " ".join(text.split())


def clean(text: str) -> str:
    """NFKC without invisible or control characters, spaces collapsed; letters as typed."""
    return _clean_kept(text) if len(text) <= KEPT_CHARS else _clean(text)


def _clean(text: str) -> str:
    once = _clean_once(text)
    return once if _SAFE.fullmatch(once) else _fixpoint(_clean_once, once)


def _normalize_once(text: str) -> str:
    text = _clean_once(text)
    if text.isascii():
        return _ELONGATED.sub(r"\1", text.lower())
    text = strip_marks(text.translate(_URDU_LETTERS))
    text = _ELONGATED.sub(r"\1", text.casefold())
    return _single_spaced(text)


def _fixpoint(step: Callable[[str], str], text: str) -> str:
    # A few rare characters need a second pass (casefold or NFKC can expose a mark or a variant).
    for _ in range(4):
        again = step(text)
        if again == text:
            break
        text = again
    return text


def normalize(text: str) -> str:
    """NFKC, Urdu letter forms, no diacritics or invisible controls, folded case and elongations."""
    return _normalize_kept(text) if len(text) <= KEPT_CHARS else _normalize(text)


def _normalize(text: str) -> str:
    once = _normalize_once(text)
    return once if _SAFE.fullmatch(once) else _fixpoint(_normalize_once, once)


# `clean` and `normalize` of the last short texts, remembered: one message is cleaned and normalised
# several times over (its language, its model text, the engine's phrases, the designation check), in the
# same form or already cleaned, and each pass is a Unicode normalisation and a few regular expressions.
KEPT_CHARS = 1_000  # longer texts (rare) are worked out each time: the memory stays small
_clean_kept = lru_cache(maxsize=1024)(_clean)
_normalize_kept = lru_cache(maxsize=1024)(_normalize)


# After "kiya", these make it the verb (passive or past: "kiya ja raha", "kiya gaya"), not "kya" (what).
_VERB_AFTER_KIYA = re.compile(r" (?:ja|jaa|jata|jati|jate|jaye|jayega|jaega|gaya|gya|gayi|gai|gaye)(?!\w)")


def _fold_word(match: re.Match[str]) -> str:
    word = match.group(0)
    if word == "kiya" and _VERB_AFTER_KIYA.match(match.string, match.end()):
        return word
    return ROMAN_VARIANTS.get(word, word)


def fold_roman(normalized: str) -> str:
    """Roman Urdu spelling variants folded to one spelling, word by word."""
    return _WORD.sub(_fold_word, normalized)


def emoji_words(text: str) -> str:
    """Answering emoji replaced by words of their own ("ok 👍🏻" -> "ok  emojithumbsup "); idempotent."""
    if text.isascii():
        return text
    text = _EMOJI_MODIFIERS.sub("", text)
    return _EMOJI.sub(lambda m: f" {EMOJI_WORDS[m.group(0)]} ", text)


def words(text: str) -> list[str]:
    """Word tokens (letters and digits; punctuation, symbols and emoji split words)."""
    return _WORD.findall(text)


def tokens(normalized: str) -> list[str]:
    """Word tokens with Roman Urdu spelling variants folded together."""
    return [ROMAN_VARIANTS.get(w, w) for w in _WORD.findall(normalized)]
