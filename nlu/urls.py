"""Finding links in a message and reducing them to one canonical form per page.

Citizens paste links in every shape: with or without a scheme, from the mobile site, wrapped in a
Facebook redirect, followed by tracking parameters, glued to Urdu text. `find_urls` picks them out of
a message and `canonicalize` turns every spelling of one page into the same string, so that reports
of the same page meet in the queue. Pure standard library; nothing here raises on any input.

Case. Host names are case-insensitive everywhere and are lower-cased. In a path, what folds depends on
the platform and on where the part sits, and `_CASE_RULES` (below) says it part by part: user names,
page names, handles, hashtags and the platforms' own route words are case-insensitive and fold; ids
(Facebook `pfbid…` posts and share codes, YouTube video and channel ids, Telegram invite hashes,
Instagram shortcodes, TikTok and WhatsApp codes) are case-sensitive and keep the case they were sent
in. Folding an id would merge two different posts into one case and give a canonical link that no
longer opens, so what a rule does not name keeps its case (a split case is the cheaper mistake).
Query values always keep their case (`v=`, `story_fbid=`, `list=` are ids). On any other web site
the whole path keeps its case: most servers treat paths as case-sensitive.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

__all__ = ["PLATFORMS", "FoundUrl", "canonicalize", "find_urls", "platform_of"]

PLATFORMS = ("facebook", "telegram", "youtube", "x", "instagram", "tiktok", "whatsapp", "web")


@dataclass(frozen=True, slots=True)
class FoundUrl:
    start: int  # offsets into the text passed in: text[start:end] == raw
    end: int
    raw: str  # the text as written (trailing punctuation removed)
    canonical: str
    platform: str


# --------------------------------------------------------------------------------------------------
# limits

_SCAN_LIMIT = 100_000  # characters of a message that find_urls looks at
_MAX_URL_LEN = 8_192  # longer "links" are not links
_MAX_UNWRAP = 4  # l.facebook.com inside l.facebook.com inside ...

# --------------------------------------------------------------------------------------------------
# platforms

_PLATFORM_DOMAINS: dict[str, str] = {
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "fb.me": "facebook",
    "fb.watch": "facebook",
    "m.me": "facebook",
    "t.me": "telegram",
    "telegram.me": "telegram",
    "telegram.dog": "telegram",
    "telegram.org": "telegram",
    "telegra.ph": "telegram",
    "youtube.com": "youtube",
    "youtu.be": "youtube",
    "youtube-nocookie.com": "youtube",
    "x.com": "x",
    "twitter.com": "x",
    "t.co": "x",
    "instagram.com": "instagram",
    "instagr.am": "instagram",
    "tiktok.com": "tiktok",
    "whatsapp.com": "whatsapp",
    "wa.me": "whatsapp",
}

_FB_MAIN_HOSTS = frozenset(
    {
        "facebook.com",
        "m.facebook.com",
        "mbasic.facebook.com",
        "web.facebook.com",
        "touch.facebook.com",
        "free.facebook.com",
        "business.facebook.com",
        "mobile.facebook.com",
        "d.facebook.com",
        "0.facebook.com",
        "fb.com",
        "m.fb.com",
        "fb.me",
    }
)
_FB_LOCALE_HOST_RE = re.compile(r"[a-z]{2}-[a-z]{2}\.facebook\.com")  # ur-pk.facebook.com
_FB_REDIRECT_HOSTS = frozenset({"l.facebook.com", "lm.facebook.com"})
_FB_KEEP_PARAMS = frozenset({"id", "story_fbid", "v", "fbid", "set"})

_TG_HOSTS = frozenset({"t.me", "telegram.me", "telegram.dog"})
_TG_USER_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,31}")

_YT_HOSTS = frozenset({"youtube.com", "m.youtube.com", "music.youtube.com", "youtube-nocookie.com"})
_YT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_YT_ID_PATHS = frozenset({"shorts", "embed", "live", "v", "e"})  # /shorts/ID is /watch?v=ID

_X_HOSTS = frozenset({"x.com", "twitter.com", "mobile.twitter.com", "m.twitter.com", "mobile.x.com"})
_IG_HOSTS = frozenset({"instagram.com", "m.instagram.com", "instagr.am"})
_TT_HOSTS = frozenset({"tiktok.com", "m.tiktok.com"})

# --------------------------------------------------------------------------------------------------
# case: which parts of a path fold and which keep the case they were sent in
#
# One rule is a path pattern, one token a segment; the first rule of the platform that matches the
# whole path decides, and a path no rule matches keeps its case. Tokens:
#   word, a|b|c   a route word of the platform, matched ignoring case, written lower case
#   {name}        a case-insensitive name (user, page, group, channel handle, hashtag): lower case
#   {id}          a case-sensitive id: kept as sent
#   @{name} +{id} the same, for a segment that starts with "@" or "+"
#   {name*} {id*} this segment and all after it (none is fine), folded or kept
# Matching never looks at case, so a canonical link is canonical again (idempotence).

_FB_PAGE_TABS = (
    "about|community|events|followers|following|friends|groups|likes|live_videos|mentions|photos|posts"
    "|reels|reviews|videos"
)
_FB_GROUP_TABS = "about|announcements|events|files|media|members|permalink|posts|user"
_IG_TABS = "followers|following|guides|reels|saved|tagged"
_CASE_RULES: dict[str, tuple[str, ...]] = {
    # Page, profile and group names are case-insensitive (facebook.com/Some.Page is /some.page); post
    # ids are not: pfbid0… ids are mixed-case, two posts can differ only in case. Query ids
    # (story_fbid=, fbid=, id=, v=, set=) are query values and keep their case.
    "facebook": (
        "/share/p|r|v|g/{id*}",  # /share/p/1AbCdE: the kind (post, reel, video, group) folds, the code not
        "/share/{id*}",  # /share/1AbCdE: a profile or page shared
        "/reel|stories/{id*}",  # /reel/ID, /stories/USER_ID/UzpfSTEw…
        "/hashtag/{name}",
        "/people|pages/{name}/{id*}",  # /people/Some-Name/100012345: the number is the id
        f"/groups/{{name}}/{_FB_GROUP_TABS}/{{id*}}",  # /groups/Some.Group/posts/pfbid0…
        "/groups/{name}/{id*}",
        f"/{{name}}/{_FB_PAGE_TABS}/{{id*}}",  # /Some.Page/posts/pfbid0…, /Some.Page/videos/ID
        "/{name}/{id*}",  # a page or a route word; what follows, unknown to us, keeps its case
    ),
    # Shortcodes (/p/, /reel/, /tv/; /reels/CODE is read as /reel/CODE) are base64: case-sensitive.
    # User names and hashtags are case-insensitive.
    "instagram": (
        "/p|reel|tv/{id*}",
        "/stories/highlights/{id*}",
        "/stories/{name}/{id*}",  # /stories/some_user/STORY_ID
        "/explore/tags/{name}",
        "/explore/{name}/{id*}",
        "/s/{id*}",  # /s/aGlnaGxpZ2h0… shared highlights
        "/{name}/p|reel|tv/{id*}",  # /some_user/p/CODE
        f"/{{name}}/{_IG_TABS}/{{id*}}",
        "/{name}/{id*}",
    ),
    # Video ids (already turned into /watch?v=ID), channel ids (/channel/UC…), playlist ids (list=),
    # community post and clip ids are case-sensitive. Handles (@name), legacy custom names (/c/NAME,
    # /user/NAME, /NAME) and the channel tabs after them (videos, shorts, about, …) are not.
    "youtube": (
        "/channel/{id}/{name*}",
        "/@{name}/{name*}",
        "/c|user/{name}/{name*}",
        "/hashtag/{name}",
        "/post|clip|source/{id*}",
        "/{name}/{id*}",
    ),
    # User names (of channels, groups and bots) are case-insensitive; invite hashes (t.me/+HASH,
    # /joinchat/HASH), folder, sticker, emoji and theme codes are not; nor are bot Mini App names.
    "telegram": (
        "/+{id*}",
        "/joinchat|addlist|addstickers|addemoji|addtheme|bg/{id*}",
        "/s/{name}/{id*}",  # the web preview t.me/s/NAME (NAME too short to be read as t.me/NAME)
        "/{name}/{id*}",  # t.me/some_channel/123 (message numbers), t.me/some_bot/AppName
    ),
    # User names fold; everything below them is a route word or a number. Only /i/ routes carry
    # case-sensitive ids: /i/spaces/1YqKDoBnLZbGV, /i/broadcasts/1yNG….
    "x": (
        "/i/{name}/{id*}",
        "/{name*}",
    ),
    # /@user/video/123 (numbers); /t/ZTAbC short codes keep their case (vm.tiktok.com and
    # vt.tiktok.com short links are kept whole as other web links are); tags fold.
    "tiktok": (
        "/@{name}/{name}/{id*}",  # /@user/video/ID, /@user/photo/ID, /@user/live
        "/@{name}",
        "/tag/{name}",
        "/{id*}",
    ),
    # chat.whatsapp.com/INVITE and wa.me/message/CODE are case-sensitive; wa.me/NUMBER is digits.
    "whatsapp": ("/{id*}",),
    # Any other site: paths are case-sensitive on most servers.
    "web": ("/{id*}",),
}


@dataclass(frozen=True, slots=True)
class _Token:
    words: frozenset[str]  # a route word: one of these (empty for a name or an id)
    fold: bool  # written lower case
    prefix: str = ""  # "@" or "+": the segment starts with it
    rest: bool = False  # this segment and all after it


def _compile_rule(rule: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    for part in rule[1:].split("/"):
        m = re.fullmatch(r"([@+]?)\{(name|id)(\*?)\}", part)
        if m:
            tokens.append(_Token(frozenset(), m.group(2) == "name", m.group(1), bool(m.group(3))))
        else:
            tokens.append(_Token(frozenset(part.split("|")), True))
    return tuple(tokens)


_CASE_TABLE: dict[str, tuple[tuple[_Token, ...], ...]] = {
    platform: tuple(_compile_rule(rule) for rule in rules) for platform, rules in _CASE_RULES.items()
}


def _apply_case(platform: str, segments: list[str]) -> str:
    """The path of `segments` with each part folded or kept as the platform's first matching rule says."""
    lows = [_lower(s) for s in segments]  # each segment folded once, not once per rule tried (issue 23)
    first = lows[0] if lows else None
    for rule in _CASE_TABLE[platform]:
        words = rule[0].words
        if words and first not in words:
            continue  # the rule's first route word is not there: `_match_rule` would say None
        out = _match_rule(rule, segments, lows)
        if out is not None:
            return _join(out)
    return _join(segments)


def _match_rule(rule: tuple[_Token, ...], segments: list[str], lows: list[str]) -> list[str] | None:
    """The segments cased by `rule`, or None when it does not match; `lows` are the segments `_lower`ed."""
    out: list[str] = []
    for i, token in enumerate(rule):
        if token.rest and not token.prefix:
            out.extend(lows[i:] if token.fold else segments[i:])
            return out
        if i >= len(segments):
            return None
        low = lows[i]
        if token.words:
            if low not in token.words:
                return None
        elif not low.startswith(token.prefix):
            return None
        if token.rest:
            out.extend(lows[i:] if token.fold else segments[i:])
            return out
        out.append(low if token.fold else segments[i])
    return out if len(segments) == len(rule) else None


# --------------------------------------------------------------------------------------------------
# query parameters

_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "igsh",
        "igshid",
        "si",
        "mibextid",
        "ref",
        "__tn__",
        "eav",
        "paipv",
        "rdid",
        "share_url",
        "feature",
        "is_from_webapp",
        "sender_device",
    }
)
_TRACKING_PREFIXES = ("utm_", "__cft__")
_X_TRACKING_PARAMS = frozenset({"s", "t", "ref_src", "ref_url"})
_TT_TRACKING_PARAMS = frozenset({"_r", "_t"})

_Query = list[tuple[str, str | None]]

# --------------------------------------------------------------------------------------------------
# characters

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
_PATH_SAFE = frozenset("!$&'()*+,;=:@/")
_QUERY_SAFE = frozenset("!$'()*+,;=:@/?")
_ESCAPE_SPLIT_RE = re.compile(r"(%[0-9A-F]{2})")


def _plain_re(safe: frozenset[str]) -> re.Pattern[str]:
    """Text that `_normalise_escapes` keeps as it is: unreserved and `safe` characters only, no "%"."""
    return re.compile("[" + "".join(re.escape(ch) for ch in sorted(_UNRESERVED | safe)) + "]*")


_PLAIN_PATH_RE = _plain_re(_PATH_SAFE)
_PLAIN_QUERY_RE = _plain_re(_QUERY_SAFE)

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_PORT_REST_RE = re.compile(r"\d{0,5}(?:[/?#]|$)")
_DOTS_RE = re.compile("[\u3002\uff0e\uff61]")  # ideographic / full-width full stops act as dots in hosts
_LABEL_RE = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_TLD_RE = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}")
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
_ASCII_BAD_RE = re.compile(r"[\x00-\x20\x7f]")


# --------------------------------------------------------------------------------------------------
# canonical form


def canonicalize(url: str) -> str | None:
    """The canonical form of a web link, or None when `url` is not a reportable http(s) link."""
    if not isinstance(url, str):
        return None
    try:
        return _canonicalize(url, 0)
    except Exception:  # a broken link is not a link; never let it break the conversation
        return None


def platform_of(canonical: str) -> str:
    """The platform a link belongs to (one of PLATFORMS); "web" for anything else."""
    try:
        s = canonical.strip()
        if "://" not in s:
            s = "https://" + s.lstrip("/")
        netloc = urlsplit(s).netloc
        host = netloc.rpartition("@")[2].partition(":")[0].lower().rstrip(".")
        return _platform_for_host(host)
    except Exception:
        return "web"


def _platform_of_built(canonical: str) -> str:
    """`platform_of` for a link `canonicalize` returned: "https://", the host (lower case, ASCII, no dot at
    the end, no user), maybe ":port", then the path, which starts with "/". The host is read off directly
    instead of splitting the whole link again; anything else goes to `platform_of`."""
    if canonical.startswith("https://"):
        netloc, slash, _ = canonical[8:].partition("/")
        if slash and _BUILT_NETLOC_RE.fullmatch(netloc):
            return _platform_for_host(netloc.partition(":")[0])
    return platform_of(canonical)


_BUILT_NETLOC_RE = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)+(?::[0-9]+)?")


def _platform_for_host(host: str) -> str:
    labels = host.split(".")[-3:]  # every platform domain has two labels; a third is plenty
    for i in range(len(labels) - 1):
        platform = _PLATFORM_DOMAINS.get(".".join(labels[i:]))
        if platform is not None:
            return platform
    return "web"


def _canonicalize(url: str, depth: int) -> str | None:
    if depth > _MAX_UNWRAP:
        return None
    s = url.strip()
    if not s or len(s) > _MAX_URL_LEN or _has_bad_char(s):
        return None

    # browsers read "\" as "/" before the query
    cut = len(s)
    for sep in "?#":
        i = s.find(sep)
        if 0 <= i < cut:
            cut = i
    s = s[:cut].replace("\\", "/") + s[cut:]

    m = _SCHEME_RE.match(s)
    if m:
        scheme = m.group(1).lower()
        rest = s[m.end() :]
        if scheme in ("http", "https"):
            if not rest.startswith("//"):
                return None
            s = "https:" + rest
        elif "." in scheme and _PORT_REST_RE.match(rest):  # "site.pk:8080/x" is a host and a port
            s = "https://" + s
        else:  # javascript:, data:, mailto:, ftp:, ...
            return None
    elif s.startswith("//"):
        s = "https:" + s
    else:
        s = "https://" + s

    parts = urlsplit(s)
    if parts.scheme != "https" or not parts.netloc:
        return None
    hostport = _split_netloc(parts.netloc)
    if hostport is None:
        return None
    host = _canonical_host(hostport[0])
    if host is None:
        return None
    port = hostport[1]
    while host.startswith("www.") and host.count(".") >= 2:
        host = host[4:]

    path = _normalise_path(parts.path)
    raw_query = _parse_query(parts.query)
    query = [(k, v) for k, v in raw_query if not _is_tracking(k)]

    if host in _FB_REDIRECT_HOSTS:
        return _unwrap(raw_query, depth)
    if host in _FB_MAIN_HOSTS or _FB_LOCALE_HOST_RE.fullmatch(host):
        if path == "/l.php":
            target = _unwrap(raw_query, depth)
            if target is not None:
                return target
        return _facebook(port, path, query)
    if host in _TG_HOSTS:
        return _telegram(port, path)
    if host.endswith(".t.me") and host.count(".") == 2 and _TG_USER_RE.fullmatch(host[:-5]):
        return _telegram(port, "/" + host[:-5] + ("" if path == "/" else path))
    if host in _YT_HOSTS:
        return _youtube(port, path, query)
    if host == "youtu.be":
        return _youtu_be(port, path, query)
    if host in _X_HOSTS:
        return _x(port, path, query)
    if host in _IG_HOSTS:
        return _instagram(port, path, query)
    if host in _TT_HOSTS:
        return _tiktok(port, path, query)
    if host == "wa.me":
        return _wa_me(port, path)
    if host == "chat.whatsapp.com":
        return _build(host, port, _apply_case("whatsapp", _segments(path)), [])
    if host == "api.whatsapp.com":
        phone = _first_value(query, "phone")
        if path == "/send" and phone is not None:
            number = _strip_plus(phone)
            if number.isascii() and number.isdigit():
                return _build("wa.me", port, "/" + number, [])
    return _build(host, port, _apply_case("web", _segments(path)), query)


def _has_bad_char(s: str) -> bool:
    if _ASCII_BAD_RE.search(s):
        return True
    if s.isascii():
        return False
    return any(not ch.isascii() and unicodedata.category(ch) in _BAD_CATEGORIES for ch in s)


def _split_netloc(netloc: str) -> tuple[str, str] | None:
    """(host, port) with the userinfo dropped and a default port turned into ""."""
    hostport = netloc.rpartition("@")[2]
    if not hostport or "[" in hostport or "]" in hostport:
        return None  # IPv6 literals have no TLD: not a plausible host
    host, sep, port = hostport.partition(":")
    if not sep or port == "":
        return host, ""
    if not (port.isascii() and port.isdigit() and len(port) <= 5):
        return None
    number = int(port)
    if number == 0 or number > 65535:
        return None
    return host, ("" if number in (80, 443) else str(number))


def _canonical_host(host: str) -> str | None:
    """Lower case, IDNA (punycode) labels, no trailing dot; None unless it has a dot and a TLD of letters."""
    host = _DOTS_RE.sub(".", host)
    if host.endswith("."):
        host = host[:-1]
    if not host or len(host) > 1024:
        return None
    labels: list[str] = []
    for label in host.split("."):
        if not label:
            return None
        ascii_label = label.lower() if label.isascii() else label.encode("idna").decode("ascii").lower()
        if not _LABEL_RE.fullmatch(ascii_label):
            return None
        labels.append(ascii_label)
    if len(labels) < 2 or not _TLD_RE.fullmatch(labels[-1]):
        return None
    result = ".".join(labels)
    return result if len(result) <= 253 else None


def _normalise_escapes(s: str, safe: frozenset[str]) -> str:
    """Decode escapes of unreserved characters, upper-case the other escapes, escape the rest (UTF-8)."""
    plain = _PLAIN_PATH_RE if safe is _PATH_SAFE else _PLAIN_QUERY_RE if safe is _QUERY_SAFE else None
    if plain is not None and plain.fullmatch(s):
        return s  # no escape and nothing to escape: every character would be kept as it is (most links)
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch == "%" and i + 2 < n and s[i + 1] in _HEXDIGITS and s[i + 2] in _HEXDIGITS:
            decoded = chr(int(s[i + 1 : i + 3], 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + s[i + 1 : i + 3].upper())
            i += 3
            continue
        if ch in _UNRESERVED or ch in safe:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _normalise_path(path: str) -> str:
    """Escapes normalised, dot segments removed, trailing slashes dropped ("/" for the bare host)."""
    normalised = _normalise_escapes(path, _PATH_SAFE)
    segments: list[str] = []
    for segment in normalised.split("/")[1:]:
        if segment == ".":
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return ("/" + "/".join(segments)).rstrip("/") or "/"


def _parse_query(query: str) -> _Query:
    pairs: _Query = []
    for part in query.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        pairs.append(
            (_normalise_escapes(key, _QUERY_SAFE), _normalise_escapes(value, _QUERY_SAFE) if sep else None)
        )
    return pairs


def _is_tracking(key: str, extra: frozenset[str] = frozenset()) -> bool:
    k = key.lower()
    return k in _TRACKING_PARAMS or k.startswith(_TRACKING_PREFIXES) or k in extra


def _first_value(query: _Query, key: str) -> str | None:
    return next((v for k, v in query if k == key and v), None)


def _lower(s: str) -> str:
    """Lower case, leaving percent escapes (upper-case hex) alone."""
    if "%" not in s:
        return s.lower()  # no escape to leave alone: most segments
    parts = _ESCAPE_SPLIT_RE.split(s)
    return "".join(part if i % 2 else part.lower() for i, part in enumerate(parts))


def _segments(path: str) -> list[str]:
    return [] if path == "/" else path[1:].split("/")


def _join(segments: list[str]) -> str:
    return "/" + "/".join(segments)


def _strip_plus(s: str) -> str:
    while True:
        if s.startswith("+"):
            s = s[1:]
        elif s.startswith("%2B"):
            s = s[3:]
        else:
            return s


def _build(host: str, port: str, path: str, query: _Query) -> str:
    pairs = sorted(query, key=lambda kv: (kv[0], kv[1] is not None, kv[1] or ""))
    q = "&".join(k if v is None else f"{k}={v}" for k, v in pairs)
    return f"https://{host}{':' + port if port else ''}{path}{'?' + q if q else ''}"


def _unwrap(query: _Query, depth: int) -> str | None:
    """The target of a l.facebook.com/l.php?u=... redirect, canonicalised."""
    target = _first_value(query, "u")
    if target is None:
        return None
    return _canonicalize(unquote(target), depth + 1)


def _facebook(port: str, path: str, query: _Query) -> str:
    kept = [(k, v) for k, v in query if k in _FB_KEEP_PARAMS]
    return _build("facebook.com", port, _apply_case("facebook", _segments(path)), kept)


def _telegram(port: str, path: str) -> str:
    segments = _segments(path)
    if len(segments) >= 2 and _lower(segments[0]) == "s" and _TG_USER_RE.fullmatch(segments[1]):
        segments = segments[1:]  # t.me/s/NAME is the web preview of t.me/NAME
    if segments and segments[0].startswith(("+", "%2B")):  # invite link: t.me/%2BCODE is t.me/+CODE
        segments[0] = "+" + _strip_plus(segments[0])
    return _build("t.me", port, _apply_case("telegram", segments), [])


def _watch(port: str, video_id: str) -> str:
    return _build("youtube.com", port, "/watch", [("v", video_id)])


def _youtube(port: str, path: str, query: _Query) -> str:
    segments = _segments(path)
    first = _lower(segments[0]) if segments else ""
    if (
        len(segments) >= 2
        and first in _YT_ID_PATHS
        and _lower(segments[1]) != "videoseries"
        and _YT_ID_RE.fullmatch(segments[1])
    ):
        return _watch(port, segments[1])
    if first == "watch" and len(segments) == 1:
        video_id = _first_value(query, "v")
        return _watch(port, video_id) if video_id else _build("youtube.com", port, "/watch", [])
    return _build("youtube.com", port, _apply_case("youtube", segments), query)


def _youtu_be(port: str, path: str, query: _Query) -> str:
    segments = _segments(path)
    if not segments:
        return _build("youtube.com", port, "/", [])
    if _YT_ID_RE.fullmatch(segments[0]):
        return _watch(port, segments[0])
    return _build("youtu.be", port, path, query)


def _x(port: str, path: str, query: _Query) -> str:
    kept = [(k, v) for k, v in query if not _is_tracking(k, _X_TRACKING_PARAMS)]
    return _build("x.com", port, _apply_case("x", _segments(path)), kept)


_IG_CODE_ROUTES = frozenset({"p", "reel", "reels", "tv", "stories", "explore", "s"})


def _instagram(port: str, path: str, query: _Query) -> str:
    segments = _segments(path)
    # /reels/CODE and /some_user/reels/CODE are the same reel as /reel/CODE; /some_user/reels is a tab
    for i in (0, 1):
        if (
            i + 1 < len(segments)
            and _lower(segments[i]) == "reels"
            and (i == 0 or _lower(segments[0]) not in _IG_CODE_ROUTES)
        ):
            segments[i] = "reel"
    return _build("instagram.com", port, _apply_case("instagram", segments), query)


def _tiktok(port: str, path: str, query: _Query) -> str:
    kept = [(k, v) for k, v in query if not _is_tracking(k, _TT_TRACKING_PARAMS)]
    return _build("tiktok.com", port, _apply_case("tiktok", _segments(path)), kept)


def _wa_me(port: str, path: str) -> str:
    segments = _segments(path)
    if segments:
        segments[0] = _strip_plus(segments[0])
    return _build("wa.me", port, _apply_case("whatsapp", segments).rstrip("/") or "/", [])


# --------------------------------------------------------------------------------------------------
# finding links in text

# Characters that can never be part of a link found in text: white space, controls, quotes and
# brackets that are not URL characters, and (checked per character) Arabic-script letters and
# non-ASCII punctuation, so that a link glued to Urdu text stops at the first Urdu letter.
_ASCII_MASK_RE = re.compile(r"[\x00-\x20\x7f<>\"\\^`|]")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
_ARABIC_RANGES = (
    (0x0600, 0x06FF),
    (0x0750, 0x077F),
    (0x0870, 0x08FF),
    (0xFB50, 0xFDFF),
    (0xFE70, 0xFEFF),
)
_TOKEN_RE = re.compile(r"[^ ]+")
_CANDIDATE_RE = re.compile(
    r"(?P<scheme>(?i:https?)://)"
    r"|(?<![\w@./%\-])(?P<host>(?:[\w-]{1,63}\.){1,10}[\w-]{1,63})(?![\w-]|\.[\w-])"
)
# where one link ends and the next starts without a space: "a.com/x,https://b.com"
_SPLIT_RE = re.compile(r",(?=(?i:https?://|www\.))")
_PORT_AFTER_RE = re.compile(r":\d{1,5}(?![\w-])")
_NON_WEB_PREFIX_RE = re.compile(
    r"[(\[{'*]*(?:"
    r"(?i:javascript|vbscript|data|file|mailto|ftp|ftps|sftp|tel|sms|about|blob|intent|view-source|ws|wss"
    r"|ssh|git|irc|magnet|chrome|smb|ldap|news|nntp|telnet):"
    r"|(?!(?i:https?)://)[A-Za-z][A-Za-z0-9+.\-]*://)"
)
_TRAILING = frozenset(".,;:!?'\"\u06d4\u060c")
_CLOSERS = {")": "(", "]": "[", "}": "{"}

# TLDs common enough that a bare "name.tld" (no scheme, no www.) is taken for a link; file
# extensions (pdf, jpg, py, md, sh, zip ...) and words (is, it, to, am, my) are left out on purpose.
_COMMON_TLDS = frozenset(
    """
    com net org info biz edu gov mil int pk in uk co io me tv ly gl gd gg ws app dev xyz online site top
    live news blog tech store shop club website space pw tk ga cf gq su ru ua de fr es nl eu us ca au nz
    cn jp kr hk sg ph th vn bd lk np af ir iq ae sa qa kw om bh jo lb sy tr eg ma dz tn ng ke za br mx ar
    cl ch se fi dk ie pt gr cz ro hu pl onion link click today media network press icu vip mobi asia
    """.split()
)


def find_urls(text: str, limit: int = 20) -> list[FoundUrl]:
    """The links in `text`, first occurrence of each canonical form, at most `limit` of them."""
    found: list[FoundUrl] = []
    if not isinstance(text, str) or not isinstance(limit, int) or limit <= 0:
        return found
    with contextlib.suppress(Exception):  # never raises; keeps what was found before a surprise
        _find_urls(text[:_SCAN_LIMIT], limit, found)
    return found


def _find_urls(text: str, limit: int, found: list[FoundUrl]) -> None:
    if "." not in text and "://" not in text:
        # Every candidate is a scheme or a host with a dot in it (_CANDIDATE_RE), and masking only puts
        # spaces in: most messages ("hello", "mujhe report karni hai") have no link, seen in one scan.
        return
    masked = _mask(text)
    seen: set[str] = set()
    cache: dict[str, str | None] = {}
    budget = 10 * limit + 50  # canonicalize calls: bounds the work on adversarial input
    for token_match in _TOKEN_RE.finditer(masked):
        token = token_match.group()
        if _NON_WEB_PREFIX_RE.match(token):
            continue  # mailto:, javascript:, ftp://...: nothing in it is a link to report
        offset = token_match.start()
        splits = [m.start() for m in _SPLIT_RE.finditer(token)]
        pos = 0
        while pos < len(token):
            m = _CANDIDATE_RE.search(token, pos)
            if m is None:
                break
            span = _candidate_span(token, m, splits)
            if span is None:
                pos = m.end()
                continue
            start, end = span
            if end - start > _MAX_URL_LEN:
                pos = m.end()
                continue
            end = start + len(_strip_trailing(token[start:end]))
            raw = token[start:end]
            if raw in cache:
                canonical = cache[raw]
            else:
                budget -= 1
                if budget < 0:
                    return
                canonical = cache[raw] = canonicalize(raw)
            if canonical is None:
                pos = m.end()
                continue
            if canonical not in seen:
                seen.add(canonical)
                found.append(
                    FoundUrl(offset + start, offset + end, raw, canonical, _platform_of_built(canonical))
                )
                if len(found) >= limit:
                    return
            pos = max(end, m.end())


def _mask(text: str) -> str:
    """`text` with every character that cannot be in a link replaced by a space (same length)."""
    masked = _ASCII_MASK_RE.sub(" ", text)
    if masked.isascii():
        return masked
    return _NON_ASCII_RE.sub(_mask_char, masked)


def _mask_char(m: re.Match[str]) -> str:
    ch = m.group()
    return ch if _is_link_letter(ch) else " "


@lru_cache(maxsize=4096)
def _is_link_letter(ch: str) -> bool:
    code = ord(ch)
    if any(lo <= code <= hi for lo, hi in _ARABIC_RANGES):
        return False
    return unicodedata.category(ch)[0] in "LMN"


def _candidate_span(token: str, m: re.Match[str], splits: list[int]) -> tuple[int, int] | None:
    if m.group("scheme"):
        return m.start(), _run_end(token, m.end(), splits)
    host = m.group("host")
    if not _plausible_host(host):
        return None
    after = m.end()
    if after < len(token):
        nxt = token[after]
        if nxt == "@":
            return None  # an e-mail address, or user@host without a scheme
        if nxt in "/?#" or (nxt == ":" and _PORT_AFTER_RE.match(token, after)):
            return m.start(), _run_end(token, after, splits)
    return m.start(), after


def _run_end(token: str, start: int, splits: list[int]) -> int:
    i = bisect_right(splits, start)
    return splits[i] if i < len(splits) else len(token)


def _plausible_host(host: str) -> bool:
    """A host written without a scheme: www.anything.tld, or name.tld with a common TLD or a platform host."""
    low = host.lower()
    labels = low.split(".")
    tld = labels[-1]
    if len(tld) < 2 or not (tld.isalpha() or tld.startswith("xn--")):
        return False
    if labels[0] == "www" and len(labels) >= 3:
        return True
    return tld in _COMMON_TLDS or _platform_for_host(low) != "web"


def _strip_trailing(url: str) -> str:
    """Drop trailing punctuation, and closing brackets that have no opening partner in the link."""
    if url and url[-1] not in _TRAILING and url[-1] not in _CLOSERS:
        return url  # nothing to drop (most links)
    counts = {closer: (url.count(opener), url.count(closer)) for closer, opener in _CLOSERS.items()}
    end = len(url)
    while end:
        ch = url[end - 1]
        if ch in _TRAILING:
            end -= 1
            continue
        if ch in _CLOSERS:
            opened, closed = counts[ch]
            if closed > opened:
                counts[ch] = (opened, closed - 1)
                end -= 1
                continue
        break
    return url[:end]
