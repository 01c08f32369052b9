"""Bidi-safe text: numbers, codes, links, @handles and e-mail addresses isolated inside right-to-left text.

In an Urdu sentence the Unicode bidirectional algorithm (UAX #9) reads digits that follow Arabic letters as
"Arabic numbers" and resolves the hyphens and spaces between two of them to right-to-left, so the groups
swap places: the DRF line "0800-39393" shows as "39393-0800", "0800 011 3764" as "3764 011 0800", "0300
1234567" as "1234567 0300", and "@name" as "name@". Citizens would dial wrong numbers. `isolate` wraps each
such run in FIRST STRONG ISOLATE (U+2068) … POP DIRECTIONAL ISOLATE (U+2069): to the Urdu around it the run
is one neutral character, and inside it is laid out on its own, digits and separators left to right.

Why FSI and not LRI: every run picked here is left-to-right when it begins with a digit, a Latin letter or
nothing strong at all (an isolate with no strong character falls back to left-to-right, so a number always
reads left to right), which is the same result LRI would force; but an @handle or a link whose first letter
is Urdu keeps its own direction instead of being turned around. FSI is also what Unicode and the W3C
recommend for inserting text whose direction is not known in advance, and it needs nothing from the caller.
Telegram, Messenger, the terminal and browsers (the web chat) all honour isolates; they are invisible.

What counts as a run, tried in this order at each position:
- an e-mail address (`content-complaint@pta.gov.pk`);
- a link: with a scheme (`https://…`), from `www.`, or a bare domain with a letter TLD and an optional path
  (`facebook.com/pagename`, `t.me/channel`); a link is isolated whole, never inside its own characters,
  and trailing punctuation (`.`, `۔`, `،`, an unbalanced `)` …) stays outside;
- an @handle (`@name`);
- a reference code (`XXXX-XXXX`);
- a number: digits (ASCII, Urdu and Arabic-Indic) joined by single separators (space, hyphen, dot, comma,
  slash, colon) and an optional leading `+` (`15`, `1,800`, `0800 011 3764`, `021-111-117-642`, `12-5`).
  Digits glued to Latin letters (`NR3C`) belong to a word, which already reads left to right.

`isolate(text, lang)` changes only right-to-left languages (`ur`); an English or Roman Urdu text comes back
as it was. In an Urdu text it owns the bidi controls: it first removes every one (CONTROLS) and then wraps
the runs afresh. So it is idempotent, a text filled into another one (a helpline line into the helplines
list, a reason into a status) is isolated once, not twice, and a stray override or isolate that came in
with a citizen's words (a description, a link) cannot turn the rest of the bot's sentence around. The
content files hold no bidi controls of their own (tests/test_bidi.py checks it).
"""

from __future__ import annotations

import re
from functools import lru_cache

FSI = "\u2068"  # FIRST STRONG ISOLATE
PDI = "\u2069"  # POP DIRECTIONAL ISOLATE
RTL_LANGUAGES = frozenset({"ur"})  # of responses.languages.LANGUAGES: the ones written right to left
# Every bidi control a text of ours may carry, and that what citizens copy back from it may hold: the
# isolates, the embeddings and overrides (LRE RLE PDF LRO RLO) and the marks (LRM RLM).
CONTROLS = "\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u202e\u200e\u200f"

_DIGIT = "0-9\u0660-\u0669\u06f0-\u06f9"
_SEPARATOR = " \u00a0\\-\u2010\u2011\u2013./,:"  # one of these between two groups of digits
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_END_OF_NAME = r"(?![A-Za-z0-9-]|\.[A-Za-z0-9])"  # a domain or address ends here, not half-way
_URL_CHAR = rf"[^\s{CONTROLS}]"
_RUN = re.compile(
    rf"""
    (?P<email>(?<![\w.+%-])[A-Za-z0-9._%+-]+@(?:{_LABEL}\.)+[A-Za-z]{{2,}}{_END_OF_NAME})
    | (?P<url>(?<![\w@./:-])
        (?:[A-Za-z][A-Za-z0-9+.-]*://{_URL_CHAR}+
        | www\.{_URL_CHAR}+
        | (?:{_LABEL}\.)+[A-Za-z]{{2,}}{_END_OF_NAME}(?:[/?\#]{_URL_CHAR}*)?))
    | (?P<handle>(?<![\w@.])@\w(?:[\w.]*\w)?)
    | (?P<code>(?<![A-Za-z0-9])[0-9A-Z]{{4}}-[0-9A-Z]{{4}}(?![A-Za-z0-9]))
    | (?P<number>(?<![A-Za-z0-9_+])\+?[{_DIGIT}]+(?:[{_SEPARATOR}][{_DIGIT}]+)*(?![A-Za-z0-9_]))
    """,
    re.VERBOSE,
)
_TRAILING = frozenset(".,;:!?'\"»)]}…۔،؛؟")
_OPENERS = {")": "(", "]": "[", "}": "{"}


def _url_end(url: str) -> int:
    """Where the link proper ends: trailing punctuation off, a closing bracket kept only when opened."""
    end = len(url)
    while end > 0 and url[end - 1] in _TRAILING:
        char = url[end - 1]
        opener = _OPENERS.get(char)
        if opener is not None and url[: end - 1].count(opener) >= url[: end - 1].count(char) + 1:
            break
        end -= 1
    return end


def _wrap(text: str) -> str:
    out: list[str] = []
    last = 0
    for match in _RUN.finditer(text):
        start, end = match.span()
        if match.lastgroup == "url":
            end = start + _url_end(match.group())
            if end == start:
                continue
        out += [text[last:start], FSI, text[start:end], PDI]
        last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


@lru_cache(maxsize=4096)
def _isolated(text: str) -> str:
    return _wrap(strip(text))


def isolate(text: str, lang: str) -> str:
    """`text` with its numbers, phone numbers, codes, links, @handles and e-mail addresses each wrapped in
    FSI…PDI when `lang` is written right to left; otherwise `text` unchanged. Idempotent."""
    if lang not in RTL_LANGUAGES or not text:
        return text
    return _isolated(text) if len(text) <= 4000 else _wrap(strip(text))


def strip(text: str) -> str:
    """`text` without any bidi control (what `isolate` adds, and the marks and embeddings of others)."""
    return text.translate(_NO_CONTROLS)


_NO_CONTROLS = str.maketrans(dict.fromkeys(CONTROLS))
