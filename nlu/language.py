"""Language identification: en, ur (Urdu script) or ur-Latn (Roman Urdu); other Arabic-script languages
are recognised as themselves rather than called Urdu.

Script decides first (letters counted after links, handles and codes are taken out).

- Arabic script: letters that only Pashto (ټ ډ ړ ښ ...) or only Sindhi (ڪ ٻ ڄ ...) use; Punjabi
  (Shahmukhi) function words (ایہہ، نوں، دا، وچ، نال ...) outweighing Urdu ones; Urdu function words or
  letters (ہے، کی، ٹ، ے ...) mean Urdu, even typed on an Arabic keyboard; Persian or Arabic function words
  confirmed by lingua (restricted to Urdu, Persian and Arabic) mean Persian or Arabic. Otherwise Urdu: a
  short Urdu message ("سلام") must not turn Persian. Result: `ur`, `fa`, `ar`, `ps`, `sd` or `pa-Arab`.
- Latin script: a small table of greetings and one-word replies ("salam", "aoa" -> ur-Latn; "hi" -> en);
  then any Roman Urdu grammar word (hai, ka, ko, karo, nahi, and their spellings kr, rha, h ...) makes
  it `ur-Latn`, so code-mixed Roman Urdu ("bhai ye facebook page report karna hai") counts as Roman Urdu.
  Loanwords that English speakers in Pakistan use too ("bhai", "yaar") are no grammar: without a
  grammar word, two English function words or more ("my bhai is getting brainwashed by some group",
  "yaar this page is spreading hate") make it English. Otherwise our English vs Roman Urdu classifier,
  trained on our data (nlu/model.py).
- No letters (digits, emoji, symbols only), or another script: None (the caller's fallback applies).

Deterministic: the same text always gives the same answer.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from nlu import model as trained
from nlu.normalize import normalize, words
from responses.languages import LANGUAGES

SERVED = LANGUAGES
OTHER = ("fa", "ar", "ps", "sd", "pa-Arab")

_ARABIC_LETTER = re.compile("[\u0620-\u064a\u066e-\u06d3\u06d5\u06ee\u06ef\u06fa-\u06ff\u0750-\u077f]")
_LATIN_LETTER = re.compile("[A-Za-z\u00c0-\u024f]")
_OTHER_LETTER = re.compile(r"[^\W\d_]")

# Letters of the Pashto and Sindhi alphabets that Urdu does not use.
_PASHTO = re.compile("[\u067c\u0681\u0685\u0689\u0693\u0696\u069a\u06ab\u06bc\u06cd\u06d0]")
_SINDHI = re.compile(
    "[\u067a\u067b\u067d\u067f\u0680\u0683\u0684\u0687\u068a\u068c\u068d\u068f\u06a6\u06aa\u06b1\u06b3\u06bb]"
)
# Letters Urdu uses and Persian and Arabic do not.
_URDU_ONLY = re.compile("[\u0679\u0688\u0691\u06ba\u06be\u06c1\u06d2\u06d3]")
# Arabic spellings that Urdu keyboards do not produce: the definite article, ta marbuta, alef maqsura.
_ARABIC_MARKS = re.compile("(?:^|\\s)ال|[\u0629\u0649]")

PUNJABI_WORDS = frozenset(
    "ایہہ ایہ اوہ ایس اوس نوں دا دے وچ نال تے اے نیں سی ہووے ہویا کیتا کیتی کردا کردی کردے جاندا جاندی "
    "ساڈا ساڈی ساڈے تہاڈا تہاڈی تہاڈے تسی تسیں اسیں سانوں تینوں مینوں اونہوں لئی پتر بھرا کتھے کیہ چھیتی "
    "رہیاں رہے نیں ویچیا ہن".split()
)
URDU_WORDS = frozenset(  # matched after Arabic letter variants become Urdu ones (ي -> ی, ك -> ک, ه -> ہ)
    "ہے ہیں ہوں کا کی کے کو میں نے سے پر یہ وہ کیا کر کریں کرو رہا رہی رہے تھا تھی تھے اور لیے "
    "مجھے ہمیں آپ بھی ہی نہیں کرنا کرنی گا گی گے".split()
)
PERSIAN_WORDS = frozenset(
    "است را این که از به در با برای می نمی هست هستم هستند شما آن یک کنید کنم کند چطور چه خود نیست بود "
    "شد شده خواهم می‌خواهم لطفا".split()
)
ARABIC_WORDS = frozenset("في من على هذا هذه أن إلى عن مع كيف ما لا هو هي يوجد هناك الذي التي".split())

# Roman Urdu grammar words that English never uses: one of them makes a Latin message Roman Urdu, however
# much English it mixes in ("status check karo", "language badlo"). Common spellings count too (mjhe, krna,
# rha, h). Not "bhai" or "yaar": English typed in Pakistan borrows them ("my bhai is getting brainwashed").
ROMAN_URDU_GRAMMAR = frozenset(
    """
    hai hain ka ki ke ko se nahi nahin nhi kya kia karo kro karna karni krna krni kar kr raha rha rahi rhi
    rahe rhe wala wali walay aur bhi hafiz mujhe mujhay mjhe mujhy mera meri mere aap tum hum kaise kyun
    kahan kon kaun batao btao badlo chahiye tha thi gaya gayi hun hoon liye sath saath abhi phir karein
    kijiye diya dijiye hota hoti wapas bohat bohot shukriya jazakallah h hy karun karoon
    """.split()
)
# English function words that Roman Urdu does not use (not "to", "me", "he", "main", "is", "do", "or",
# "her": Roman Urdu words or spellings too).
ENGLISH_GRAMMAR = frozenset(
    """
    the this that these those are was were am been being my your his our their its by some any what which
    who how why when where please i you we they it with from about of for and but not should would could
    can will have has had does did getting spreading want need there here an
    """.split()
)

# Whole messages whose language is certain whatever the classifier says.
LATIN_WORDS = {
    "hi": "en",
    "hello": "en",
    "hey": "en",
    "ok": "en",
    "okay": "en",
    "yes": "en",
    "no": "en",
    "thanks": "en",
    "back": "en",
    "cancel": "en",
    "help": "en",
    "menu": "en",
    "salam": "ur-Latn",
    "salaam": "ur-Latn",
    "slm": "ur-Latn",
    "aoa": "ur-Latn",
    "assalam": "ur-Latn",
    "asalam": "ur-Latn",
    "assalamualaikum": "ur-Latn",
    "walaikum": "ur-Latn",
    "haan": "ur-Latn",
    "han": "ur-Latn",
    "ji": "ur-Latn",
    "jee": "ur-Latn",
    "nahi": "ur-Latn",
    "nahin": "ur-Latn",
    "shukriya": "ur-Latn",
    "shukria": "ur-Latn",
    "wapas": "ur-Latn",
    "wapis": "ur-Latn",
    "madad": "ur-Latn",
    "theek": "ur-Latn",
    "bilkul": "ur-Latn",
}

_lingua: Any = None
_lingua_lock = threading.Lock()


def _lingua_detector() -> Any:
    """lingua restricted to Urdu, Persian and Arabic, in low accuracy mode (trigrams: ~9 MB and 0.2 s to
    load instead of ~125 MB and 3 s; enough to confirm what grammar words already suggest)."""
    global _lingua
    if _lingua is None:
        with _lingua_lock:
            if _lingua is None:
                from lingua import Language, LanguageDetectorBuilder

                _lingua = (
                    LanguageDetectorBuilder.from_languages(Language.URDU, Language.PERSIAN, Language.ARABIC)
                    .with_low_accuracy_mode()
                    .build()
                )
    return _lingua


def arabic_script_language(cleaned: str) -> str:
    """ur, fa, ar, ps, sd or pa-Arab for text mostly in Arabic script (letters as typed).

    Urdu unless the evidence says otherwise: letters Urdu lacks (Pashto, Sindhi), Punjabi grammar words,
    or Persian / Arabic grammar words that lingua confirms. A short Urdu phrase ("پیغام پاکستان") has
    nothing Persian about it but its letters, and stays Urdu.
    """
    letters = len(_ARABIC_LETTER.findall(cleaned))
    pashto = len(_PASHTO.findall(cleaned))
    sindhi = len(_SINDHI.findall(cleaned))
    if pashto and pashto >= sindhi and pashto * 40 >= letters:
        return "ps"
    if sindhi and sindhi * 40 >= letters:
        return "sd"
    tokens = words(cleaned)
    urdu = sum(1 for w in words(normalize(cleaned)) if w in URDU_WORDS)
    punjabi = sum(1 for w in tokens if w in PUNJABI_WORDS)
    if punjabi >= 2 and punjabi > urdu:
        return "pa-Arab"
    if urdu or _URDU_ONLY.search(cleaned):
        return "ur"
    persian = sum(1 for w in tokens if w in PERSIAN_WORDS)
    arabic = sum(1 for w in tokens if w in ARABIC_WORDS) + len(_ARABIC_MARKS.findall(cleaned))
    if not (persian or arabic):
        return "ur"
    confidences = {
        c.language.name: c.value for c in _lingua_detector().compute_language_confidence_values(cleaned)
    }
    if arabic >= persian and confidences.get("ARABIC", 0.0) >= 0.5:
        return "ar"
    if persian and confidences.get("PERSIAN", 0.0) >= 0.5:
        return "fa"
    return "ur"


def latin_language(normalized: str) -> str:
    """en or ur-Latn for Latin-script normalised text."""
    tokens = words(normalized)
    if len(tokens) == 1 and tokens[0] in LATIN_WORDS:
        return LATIN_WORDS[tokens[0]]
    if len(tokens) == 2 and tokens[0] in LATIN_WORDS and tokens[1] in LATIN_WORDS:
        first, second = LATIN_WORDS[tokens[0]], LATIN_WORDS[tokens[1]]
        if "ur-Latn" in (first, second):
            return "ur-Latn"
    if any(t in ROMAN_URDU_GRAMMAR for t in tokens):
        return "ur-Latn"
    if sum(1 for t in tokens if t in ENGLISH_GRAMMAR) >= 2:
        return "en"
    return "ur-Latn" if trained.get().roman_urdu_probability(normalized) >= 0.5 else "en"


def identify(cleaned: str) -> str | None:
    """The language of cleaned text (`nlu.normalize.clean`), or None when no letters tell."""
    if cleaned.isascii():
        # Most messages. Their letters are all Latin (no Arabic and no other letter to count), so the counts
        # below come down to whether there is a letter at all.
        return latin_language(normalize(cleaned)) if _LATIN_LETTER.search(cleaned) else None
    arabic = len(_ARABIC_LETTER.findall(cleaned))
    latin = len(_LATIN_LETTER.findall(cleaned))
    if arabic == 0 and latin == 0:
        return None
    if arabic >= latin:
        return arabic_script_language(cleaned)
    others = len(_OTHER_LETTER.findall(cleaned)) - arabic - latin
    if others > latin:
        return None  # mostly another script (Devanagari, Cyrillic, ...)
    return latin_language(normalize(cleaned))


def detect(text: str) -> str | None:
    """One of en, ur, ur-Latn for `text`, or None (letterless, or a language we do not serve)."""
    from nlu.normalize import clean

    found = identify(clean(text))
    return found if found in SERVED else None
