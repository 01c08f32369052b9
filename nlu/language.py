"""Language identification: en, ur (Urdu script) or ur-Latn (Roman Urdu).

Script decides first. Latin text is English unless Roman Urdu function words outweigh English ones, so
code-mixed Roman Urdu ("bhai ye facebook page report karna hai") counts as Roman Urdu.
"""

from __future__ import annotations

from nlu.normalize import tokens

ROMAN_URDU_WORDS = frozenset(
    """
    hai hain ho hun tha thi thay kya kyun kaise kaisay kab kahan kon kaun ka ki ke ko se par pe main
    mujhe mera meri mere hum humara humari aap aapka aapki tum tumhara ye wo woh un yahan wahan
    nahi haan han jee ji acha accha theek thik shukriya meherbani bhai behen beta beti bachay bacha
    karna kar karo kardo karein karta karti kiya gaya gayi raha rahi rahay wala wali walay sakta sakti
    chahiye chahta chahti batao bataen bataein btao dekho dekhein madad zaroor abhi jaldi khatra khatrah
    dehshat dehshatgard shikayat shikaayat ghalat galat sahi baat log logon ghar beta larka larki
    salam assalam aoa walaikum khuda hafiz allah hafiz alvida bohat bahut bht kuch sab aur ya lekin
    magar agar tou to bhi hi wapas wapis band khatam chhoro choro zuban zaban urdu angrezi
    """.split()
)
ENGLISH_WORDS = frozenset(
    """
    the a an is are was were be been this that these those i you he she we they it my your our their
    what why how when where who which please help want need to of in on for with and or but not no yes
    report page account channel group post video link someone somebody my son daughter brother friend
    hello hi thanks thank goodbye bye status check privacy data delete language cancel back menu about
    there here have has had do does did can could would should will shall am
    """.split()
)
# Both languages use these; they say nothing about which one it is.
_SHARED = frozenset({"hi", "to", "ok", "okay", "page", "report", "facebook", "link"})


def _arabic_script(ch: str) -> bool:
    return "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f" or "\ufb50" <= ch <= "\ufeff"


def detect(normalized: str) -> str | None:
    """The language of normalised text, or None when it has no letters to judge by."""
    arabic = sum(1 for ch in normalized if _arabic_script(ch))
    latin = sum(1 for ch in normalized if ch.isascii() and ch.isalpha())
    if arabic == 0 and latin == 0:
        return None
    if arabic >= latin:
        return "ur"
    words = [w for w in tokens(normalized) if w.isascii() and w not in _SHARED]
    roman = sum(1 for w in words if w in ROMAN_URDU_WORDS)
    english = sum(1 for w in words if w in ENGLISH_WORDS)
    return "ur-Latn" if roman > english else "en"
