"""Links: finding them in messages and reducing every spelling of a page to one canonical form."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlu.urls import PLATFORMS, FoundUrl, canonicalize, find_urls, platform_of

SETTINGS = settings(max_examples=200, deadline=None, database=None)

# --------------------------------------------------------------------------------------------------
# the contract table, row by row

TABLE = [
    ("HTTP://WWW.Site.pk:443/A#x", "https://site.pk/A"),
    ("https://site.pk/news/", "https://site.pk/news"),
    ("https://site.pk/a?b=2&a=1&utm_source=x", "https://site.pk/a?a=1&b=2"),
    ("https://m.facebook.com/Some.Page?ref=bookmarks", "https://facebook.com/some.page"),
    ("https://web.facebook.com/profile.php?id=1000&eav=x", "https://facebook.com/profile.php?id=1000"),
    ("https://t.me/s/Some_Channel?before=10", "https://t.me/some_channel"),
    ("https://youtu.be/AbC_12?t=42", "https://youtube.com/watch?v=AbC_12"),
    ("https://mobile.twitter.com/Some_User/status/123?s=20", "https://x.com/some_user/status/123"),
    ("instagr.am/Some_User", "https://instagram.com/some_user"),
    ("https://www.tiktok.com/@Some_User/video/1?is_from_webapp=1", "https://tiktok.com/@some_user/video/1"),
    ("https://chat.whatsapp.com/AbCd", "https://chat.whatsapp.com/AbCd"),
    ("https://Forum.NET/Threads/View.php?id=7", "https://forum.net/Threads/View.php?id=7"),
]


@pytest.mark.parametrize(("url", "expected"), TABLE)
def test_contract_table(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


VARIANTS = [
    # general rules
    ("http://user:pw@site.pk:80/", "https://site.pk/"),
    ("site.pk", "https://site.pk/"),
    ("https://site.pk?b=1", "https://site.pk/?b=1"),
    ("https://site.pk:8080/x/", "https://site.pk:8080/x"),
    ("https://site.pk./a/./b/../c", "https://site.pk/a/c"),
    ("https://site.pk/%7euser/%e2%82%ac", "https://site.pk/~user/%E2%82%AC"),
    ("https://site.pk/a%20b/a|b", "https://site.pk/a%20b/a%7Cb"),
    ("https://site.pk/€", "https://site.pk/%E2%82%AC"),
    ("https://site.pk/100%", "https://site.pk/100%25"),
    (
        "https://site.pk/x?fbclid=1&gclid=2&si=3&igsh=4&igshid=5&mibextid=6&ref=7&__cft__[0]=8&__tn__=9"
        "&eav=a&paipv=b&rdid=c&share_url=d&feature=e&is_from_webapp=f&sender_device=g&UTM_Medium=h&k=v",
        "https://site.pk/x?k=v",
    ),
    ("https://site.pk/x?s=1&t=2", "https://site.pk/x?s=1&t=2"),  # s and t are tracking on x.com only
    ("https://www.www.site.pk/", "https://site.pk/"),
    ("//site.pk/A", "https://site.pk/A"),
    ("https://site.pk\\a\\b", "https://site.pk/a/b"),
    ("https://bücher.de/Ä", "https://xn--bcher-kva.de/%C3%84"),
    # facebook
    ("https://www.facebook.com/Some.Page/", "https://facebook.com/some.page"),
    ("fb.com/Some.Page?fbclid=IwAR0", "https://facebook.com/some.page"),
    ("https://fb.me/Some.Page", "https://facebook.com/some.page"),
    ("https://mbasic.facebook.com/Some.Page?refid=1", "https://facebook.com/some.page"),
    ("https://touch.facebook.com/Some.Page", "https://facebook.com/some.page"),
    ("https://free.facebook.com/Some.Page", "https://facebook.com/some.page"),
    ("https://business.facebook.com/Some.Page", "https://facebook.com/some.page"),
    ("https://ur-pk.facebook.com/Some.Page", "https://facebook.com/some.page"),
    ("https://www.facebook.com/share/p/1AbCdE/?mibextid=xyz", "https://facebook.com/share/p/1AbCdE"),
    ("https://www.facebook.com/Share/AbCdEf/", "https://facebook.com/share/AbCdEf"),
    (
        "https://m.facebook.com/story.php?story_fbid=pfbid0AbC&id=100&__tn__=%2CO",
        "https://facebook.com/story.php?id=100&story_fbid=pfbid0AbC",
    ),
    ("https://www.facebook.com/watch/?v=123&ref=sharing", "https://facebook.com/watch?v=123"),
    (
        "https://www.facebook.com/photo/?fbid=9&set=a.8&__cft__[0]=AZ",
        "https://facebook.com/photo?fbid=9&set=a.8",
    ),
    (
        "https://l.facebook.com/l.php?u=https%3A%2F%2Fsite.pk%2FNews%3Futm_source%3Dfb&h=AT0",
        "https://site.pk/News",
    ),
    (
        "https://lm.facebook.com/l.php?u=https%3A%2F%2Fm.facebook.com%2FBad.Page",
        "https://facebook.com/bad.page",
    ),
    (
        "https://l.facebook.com/l.php?u=https%3A%2F%2Fl.facebook.com%2Fl.php%3Fu%3Dhttps%253A%252F%252Ft.me%252FX1_y",
        "https://t.me/x1_y",
    ),
    # telegram
    ("telegram.me/Some_Channel", "https://t.me/some_channel"),
    ("https://telegram.dog/Some_Channel/", "https://t.me/some_channel"),
    ("https://t.me/Some_Channel/123?single", "https://t.me/some_channel/123"),
    ("https://t.me/+AbCdEf123", "https://t.me/+AbCdEf123"),
    ("https://t.me/%2BAbCdEf123", "https://t.me/+AbCdEf123"),
    ("https://t.me/joinchat/AbCdEf123", "https://t.me/joinchat/AbCdEf123"),
    ("https://T.ME/JoinChat/AbCdEf123/", "https://t.me/joinchat/AbCdEf123"),
    ("https://Some_Channel.t.me/5", "https://t.me/some_channel/5"),
    # youtube
    ("https://www.youtube.com/watch?v=AbC_12&t=42s&list=PL1&si=x", "https://youtube.com/watch?v=AbC_12"),
    ("https://m.youtube.com/shorts/AbC_12?feature=share", "https://youtube.com/watch?v=AbC_12"),
    ("https://youtube.com/embed/AbC_12?start=5", "https://youtube.com/watch?v=AbC_12"),
    ("https://music.youtube.com/watch?v=AbC_12&list=RD1", "https://youtube.com/watch?v=AbC_12"),
    ("https://www.youtube.com/live/AbC_12?si=abc", "https://youtube.com/watch?v=AbC_12"),
    ("https://www.youtube.com/@Some_Handle/videos", "https://youtube.com/@some_handle/videos"),
    ("https://www.youtube.com/playlist?list=PLAbC&si=1", "https://youtube.com/playlist?list=PLAbC"),
    ("https://www.youtube.com/channel/UCAbC/", "https://youtube.com/channel/UCAbC"),
    # x
    ("https://twitter.com/Some_User", "https://x.com/some_user"),
    ("https://www.x.com/Some_User/status/123?t=AbC&s=09", "https://x.com/some_user/status/123"),
    ("https://x.com/Some_User/status/123?ref_src=twsrc%5Etfw", "https://x.com/some_user/status/123"),
    ("https://t.co/AbC12", "https://t.co/AbC12"),
    # instagram
    ("https://www.instagram.com/Some_User/?igsh=abc", "https://instagram.com/some_user"),
    ("https://instagram.com/p/CAbC-12/?utm_source=ig_web_copy_link", "https://instagram.com/p/CAbC-12"),
    ("https://www.instagram.com/reel/CAbC12/?igshid=x", "https://instagram.com/reel/CAbC12"),
    ("https://www.instagram.com/reels/CAbC12/", "https://instagram.com/reel/CAbC12"),
    ("https://m.instagram.com/Some_User/p/CAbC12/", "https://instagram.com/some_user/p/CAbC12"),
    # tiktok
    ("https://m.tiktok.com/@Some_User", "https://tiktok.com/@some_user"),
    ("tiktok.com/@Some_User/video/7?sender_device=pc&_r=1&_t=x", "https://tiktok.com/@some_user/video/7"),
    ("https://vm.tiktok.com/ZSAbC12/", "https://vm.tiktok.com/ZSAbC12"),
    ("https://www.tiktok.com/t/ZTAbC/", "https://tiktok.com/t/ZTAbC"),
    # whatsapp
    ("https://wa.me/923001234567", "https://wa.me/923001234567"),
    ("wa.me/+923001234567?text=Salam", "https://wa.me/923001234567"),
    ("https://api.whatsapp.com/send?phone=923001234567&text=hi", "https://wa.me/923001234567"),
    ("https://chat.whatsapp.com/AbCdEf?mode=ac_t", "https://chat.whatsapp.com/AbCdEf"),
    ("https://www.whatsapp.com/channel/0029VaAbC", "https://whatsapp.com/channel/0029VaAbC"),
]


@pytest.mark.parametrize(("url", "expected"), VARIANTS)
def test_variants(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


@pytest.mark.parametrize(
    ("canonical", "platform"),
    [
        ("https://facebook.com/some.page", "facebook"),
        ("https://fb.watch/AbC", "facebook"),
        ("https://t.me/x", "telegram"),
        ("https://telegram.dog/x", "telegram"),
        ("https://youtube.com/watch?v=1", "youtube"),
        ("https://youtu.be/AbC", "youtube"),
        ("https://x.com/a", "x"),
        ("https://t.co/a", "x"),
        ("https://twitter.com/a", "x"),
        ("https://instagram.com/a", "instagram"),
        ("https://instagr.am/a", "instagram"),
        ("https://vm.tiktok.com/a", "tiktok"),
        ("https://wa.me/92300", "whatsapp"),
        ("https://chat.whatsapp.com/AbC", "whatsapp"),
        ("https://site.pk/", "web"),
        ("https://fox.com/", "web"),
        ("https://notfacebook.com/", "web"),
        ("https://facebook.com.evil.pk/", "web"),
        ("https://xn--fcebook-2fg.com/", "web"),
        ("", "web"),
        ("not a url at all", "web"),
    ],
)
def test_platform_of(canonical: str, platform: str) -> None:
    assert platform_of(canonical) == platform


def test_platform_of_every_table_row_is_a_known_platform() -> None:
    platforms = [platform_of(expected) for _, expected in TABLE]
    assert platforms == [
        *("web", "web", "web", "facebook", "facebook", "telegram"),
        *("youtube", "x", "instagram", "tiktok", "whatsapp", "web"),
    ]
    assert set(platforms) <= set(PLATFORMS)


# --------------------------------------------------------------------------------------------------
# links that are not links to report


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert('https://facebook.com')",
        "data:text/html;base64,PHNjcmlwdD4=",
        "file:///etc/passwd",
        "mailto:someone@site.pk",
        "ftp://files.site.pk/a.zip",
        "tel:+923001234567",
        "ws://site.pk/socket",
        "http:site.pk",
        "https://1.2.3.4/x",
        "https://[::1]/x",
        "https://localhost/x",
        "https://site.p/x",
        "https://site.123/x",
        "https://-bad-.pk/",
        "https://site.pk:99999/",
        "https://site.pk:abc/",
        "https://l.facebook.com/l.php",
        "https://l.facebook.com/l.php?u=javascript%3Aalert(1)",
        "https://site.pk/a\nb",
        "https://site.pk/a b",
        "https://fa\u200bcebook.com/",
    ],
)
def test_not_reportable(url: str) -> None:
    assert canonicalize(url) is None


def test_non_web_schemes_are_not_found_in_text() -> None:
    text = (
        "javascript:alert('x') mailto:admin@site.pk ftp://files.site.pk/a.zip data:text/html,hi file:///c:/x"
    )
    assert find_urls(text) == []


def test_unwrapping_is_bounded() -> None:
    url = "https://site.pk/end"
    for _ in range(50):
        url = "https://l.facebook.com/l.php?u=" + url.replace("%", "%25").replace(":", "%3A").replace(
            "/", "%2F"
        ).replace("?", "%3F").replace("=", "%3D").replace("&", "%26")
    assert canonicalize(url) is None


def test_unwrapping_a_few_levels() -> None:
    url = "https://site.pk/end"
    for _ in range(3):
        url = "https://l.facebook.com/l.php?u=" + url.replace("%", "%25").replace(":", "%3A").replace(
            "/", "%2F"
        )
    assert canonicalize(url) == "https://site.pk/end"


# --------------------------------------------------------------------------------------------------
# homoglyphs and IDN


def test_homoglyph_host_shows_punycode() -> None:
    fake = "https://fаcebook.com/Page"  # Cyrillic "а"
    assert canonicalize(fake) == "https://xn--fcebook-2fg.com/Page"
    assert platform_of("https://xn--fcebook-2fg.com/Page") == "web"
    [found] = find_urls(f"ye dekho {fake[8:]} jaldi")
    assert found.canonical == "https://xn--fcebook-2fg.com/Page"
    assert found.platform == "web"


def test_full_width_host_is_the_ascii_host() -> None:
    assert canonicalize("https://ｆａｃｅｂｏｏｋ.com/Page") == "https://facebook.com/page"


def test_punycode_and_unicode_hosts_meet() -> None:
    expected = "https://xn--bcher-kva.de/a"
    assert canonicalize("https://xn--bcher-kva.de/a") == expected
    assert canonicalize("https://BÜCHER.de/a") == expected


# --------------------------------------------------------------------------------------------------
# finding links in messages


def spans(text: str, limit: int = 20) -> list[tuple[str, str, str]]:
    found = find_urls(text, limit)
    for f in found:
        assert text[f.start : f.end] == f.raw
    return [(f.raw, f.canonical, f.platform) for f in found]


def test_find_english_sentence() -> None:
    text = "Please remove https://www.facebook.com/Bad.Page/?ref=bookmarks, it spreads hate."
    [found] = find_urls(text)
    assert found == FoundUrl(
        start=14,
        end=62,
        raw="https://www.facebook.com/Bad.Page/?ref=bookmarks",
        canonical="https://facebook.com/bad.page",
        platform="facebook",
    )


def test_find_urdu_sentence() -> None:
    text = "یہ پیج دیکھیں facebook.com/Bad.Page۔"
    [found] = find_urls(text)
    assert found == FoundUrl(14, 35, "facebook.com/Bad.Page", "https://facebook.com/bad.page", "facebook")


def test_find_urdu_glued_to_link() -> None:
    text = "یہ چینل دیکھیںt.me/Bad_Channelاور رپورٹ کریں،https://youtu.be/AbC_12۔"
    assert spans(text) == [
        ("t.me/Bad_Channel", "https://t.me/bad_channel", "telegram"),
        ("https://youtu.be/AbC_12", "https://youtube.com/watch?v=AbC_12", "youtube"),
    ]


def test_find_urdu_comma_and_full_stop() -> None:
    assert spans("لنک: www.site.pk/news، اور youtube.com/@Hate۔") == [
        ("www.site.pk/news", "https://site.pk/news", "web"),
        ("youtube.com/@Hate", "https://youtube.com/@hate", "youtube"),
    ]


def test_find_roman_urdu_sentences() -> None:
    assert spans("bhai ye page dekho facebook.com/BadPage aur isko report karo") == [
        ("facebook.com/BadPage", "https://facebook.com/badpage", "facebook"),
    ]
    assert spans("is channel ko band karo: t.me/BadChannel!! bohot nafrat phaila raha hai") == [
        ("t.me/BadChannel", "https://t.me/badchannel", "telegram"),
    ]
    assert spans("link:instagram.com/Bad_User?igsh=abc, jaldi karo") == [
        ("instagram.com/Bad_User?igsh=abc", "https://instagram.com/bad_user", "instagram"),
    ]


def test_find_with_and_without_scheme() -> None:
    text = "a https://site.pk/A b http://www.other.pk c www.third.pk/x d fourth.com e t.me/abcd f"
    assert [c for _, c, _ in spans(text)] == [
        "https://site.pk/A",
        "https://other.pk/",
        "https://third.pk/x",
        "https://fourth.com/",
        "https://t.me/abcd",
    ]


@pytest.mark.parametrize(
    "punct", [".", ",", ";", ":", "!", "?", ")", "]", "}", "'", '"', "۔", "،", "...", "?!", ").", "'."]
)
def test_trailing_punctuation_removed(punct: str) -> None:
    [found] = find_urls(f"see https://site.pk/a/b{punct} now")
    assert found.raw == "https://site.pk/a/b"
    assert found.end == 4 + len("https://site.pk/a/b")


def test_parentheses() -> None:
    assert spans("(see https://site.pk/a)") == [("https://site.pk/a", "https://site.pk/a", "web")]
    assert spans("(facebook.com/Page)") == [("facebook.com/Page", "https://facebook.com/page", "facebook")]
    assert spans("wiki: https://en.wikipedia.org/wiki/Foo_(bar).") == [
        ("https://en.wikipedia.org/wiki/Foo_(bar)", "https://en.wikipedia.org/wiki/Foo_(bar)", "web"),
    ]
    assert spans("(wiki https://en.wikipedia.org/wiki/Foo_(bar))") == [
        ("https://en.wikipedia.org/wiki/Foo_(bar)", "https://en.wikipedia.org/wiki/Foo_(bar)", "web"),
    ]
    assert spans("[page](https://x.com/Some_User)") == [
        ("https://x.com/Some_User", "https://x.com/some_user", "x"),
    ]
    assert spans("<https://site.pk/a>") == [("https://site.pk/a", "https://site.pk/a", "web")]


def test_multiple_links_in_order() -> None:
    text = "1) t.me/one_channel 2) https://youtu.be/AbC_12 3) wa.me/923001234567 4) tiktok.com/@Bad"
    assert spans(text) == [
        ("t.me/one_channel", "https://t.me/one_channel", "telegram"),
        ("https://youtu.be/AbC_12", "https://youtube.com/watch?v=AbC_12", "youtube"),
        ("wa.me/923001234567", "https://wa.me/923001234567", "whatsapp"),
        ("tiktok.com/@Bad", "https://tiktok.com/@bad", "tiktok"),
    ]


def test_links_separated_only_by_a_comma() -> None:
    assert [c for _, c, _ in spans("https://a.pk/x,https://b.pk/y,www.c.pk")] == [
        "https://a.pk/x",
        "https://b.pk/y",
        "https://c.pk/",
    ]


def test_duplicates_returned_once_first_occurrence() -> None:
    text = "m.facebook.com/Bad.Page and https://www.facebook.com/bad.page/?fbclid=1 and fb.com/BAD.PAGE"
    [found] = find_urls(text)
    assert (found.start, found.raw) == (0, "m.facebook.com/Bad.Page")


def test_limit() -> None:
    text = " ".join(f"https://site{i}.pk/" for i in range(30))
    found = find_urls(text)
    assert len(found) == 20
    assert found[-1].canonical == "https://site19.pk/"
    assert [f.canonical for f in find_urls(text, limit=3)] == [
        "https://site0.pk/",
        "https://site1.pk/",
        "https://site2.pk/",
    ]
    assert find_urls(text, limit=0) == []
    assert find_urls(text, limit=-1) == []


def test_only_the_first_100000_characters_are_scanned() -> None:
    assert find_urls("x " * 49_990 + "https://site.pk/early") == [
        FoundUrl(99_980, 100_000, "https://site.pk/early"[:20], "https://site.pk/earl", "web")
    ]
    assert find_urls("x" * 100_000 + " https://site.pk/late") == []


@pytest.mark.parametrize(
    "text",
    [
        "version 3.5 is out",
        "Rs.500 de do",
        "the report.pdf and photo.jpg and script.py and notes.md",
        "e.g. this i.e. that a.m. p.m.",
        "Mr.Khan ne kaha",
        "mail me at ali.khan@gmail.com or ali@site.pk",
        "hello.world",
        "ftp://site.pk/x",
        "...",
        "http:// https:// www. .com",
    ],
)
def test_not_links_in_text(text: str) -> None:
    assert find_urls(text) == []


def test_www_makes_any_tld_count() -> None:
    assert spans("www.example.museum and example.museum") == [
        ("www.example.museum", "https://example.museum/", "web"),
    ]


def test_scheme_makes_any_tld_count() -> None:
    assert spans("https://report.pdf/x") == [("https://report.pdf/x", "https://report.pdf/x", "web")]


def test_email_and_userinfo_are_not_bare_links() -> None:
    assert find_urls("facebook.com@evil.pk") == []
    assert spans("https://facebook.com@evil.pk/x") == [
        ("https://facebook.com@evil.pk/x", "https://evil.pk/x", "web")
    ]


def test_link_inside_link_is_one_link() -> None:
    text = "https://web.archive.org/web/2020/https://site.pk/a"
    assert spans(text) == [(text, text, "web")]


# --------------------------------------------------------------------------------------------------
# broken input never raises


BROKEN = [
    "",
    " ",
    "http://",
    "https://",
    "https://.com",
    "https://..",
    "www.",
    "www..pk",
    ":///",
    "://",
    "//",
    "?#",
    "https://%",
    "https://%zz.pk",
    "https://site.pk/%",
    "https://site.pk/%%%?%=%&%",
    "https://[",
    "https://[::1",
    "http://a@b@c@d.pk",
    "https://site.pk:" + "9" * 50,
    "https://" + "a" * 64 + ".pk",
    "https://" + "a." * 200 + "pk",
    "https://site.pk/" + "a" * 100_000,
    "a" * 100_000,
    ". " * 50_000,
    "(" * 50_000 + "https://site.pk/" + ")" * 50_000,
    "https://site.pk/" + "a.com/'" * 14_000,
    "\x00\x01\x02https://site.pk/\x7f\x80\x9f",
    "\ud800https://site.pk/\udfff",
    "https://site.pk/\ud800",
    "https://ｓｉｔｅ．ｐｋ／",
    "https://\u202esite.pk",
    "\ufeff\u200bfacebook.com/x",
    "https://xn--.pk",
    "https://xn--zz-zzzz.pk",
    "https://" + "ب" * 100 + ".pk",
    "https://💩.la/",
    "bytes: " + bytes(range(256)).decode("latin-1"),
]


@pytest.mark.parametrize("text", BROKEN, ids=lambda t: repr(t[:24]))
def test_broken_input_never_raises(text: str) -> None:
    result = canonicalize(text)
    assert result is None or result.startswith("https://")
    found = find_urls(text)
    assert len(found) <= 20
    assert platform_of(text) in PLATFORMS


def test_broken_half_urls_values() -> None:
    assert canonicalize("http://") is None
    assert canonicalize("https://.com") is None
    assert canonicalize("www.") is None
    assert canonicalize(":///") is None
    assert canonicalize("facebook.com/") == "https://facebook.com/"
    assert spans("facebook.com/") == [("facebook.com/", "https://facebook.com/", "facebook")]
    assert canonicalize("https://site.pk/" + "a" * 100_000) is None
    assert find_urls("a" * 100_000) == []


# --------------------------------------------------------------------------------------------------
# properties

FB_HOSTS = [
    "facebook.com",
    "m.facebook.com",
    "mbasic.facebook.com",
    "web.facebook.com",
    "touch.facebook.com",
    "free.facebook.com",
    "business.facebook.com",
    "fb.com",
    "fb.me",
]
HOSTS = [
    *FB_HOSTS,
    "l.facebook.com",
    "lm.facebook.com",
    "t.me",
    "telegram.me",
    "telegram.dog",
    "youtube.com",
    "m.youtube.com",
    "music.youtube.com",
    "youtu.be",
    "x.com",
    "twitter.com",
    "mobile.twitter.com",
    "instagram.com",
    "instagr.am",
    "tiktok.com",
    "m.tiktok.com",
    "vm.tiktok.com",
    "chat.whatsapp.com",
    "wa.me",
    "api.whatsapp.com",
    "site.pk",
    "forum.net",
    "news.example.co.uk",
    "some_channel.t.me",
    "xn--fcebook-2fg.com",
    "fаcebook.com",
    "bücher.de",
]
SEGMENTS = st.one_of(
    st.sampled_from(
        [
            "s",
            "share",
            "p",
            "reel",
            "reels",
            "tv",
            "shorts",
            "embed",
            "live",
            "watch",
            "send",
            "l.php",
            "joinchat",
            "+AbC",
            "%2BAbC",
            "@Some_User",
            "Some.Page",
            "Some_Channel",
            "profile.php",
            "posts",
            "pfbid0AbC",
            "groups",
            "stories",
            "channel",
            "UCAbC",
            "c",
            "user",
            "i",
            "spaces",
            "hashtag",
            "explore",
            "tags",
            "highlights",
            "addstickers",
            "tag",
            "t",
            "clip",
            "+",
            "@",
            ".",
            "..",
            "%2e",
            "%7E",
            "%41",
            "%zz",
            "%2F",
            "%",
            "%e2%82%ac",
            "€",
            "خبر",
            "a b",
            "",
        ]
    ),
    st.text(alphabet="AbCxYz019-._~!$&'()*+,;=:@%", max_size=8),
)
PARAM_KEYS = st.sampled_from(
    [
        "a",
        "B",
        "id",
        "v",
        "u",
        "t",
        "s",
        "list",
        "fbid",
        "set",
        "story_fbid",
        "phone",
        "utm_source",
        "UTM_Medium",
        "fbclid",
        "si",
        "igsh",
        "ref",
        "__cft__[0]",
        "__tn__",
        "feature",
        "is_from_webapp",
        "_r",
        "x y",
        "%61",
        "",
    ]
)
PARAM_VALUES = st.one_of(
    st.none(),
    st.text(alphabet="AbC09-_.~%+/?:@=é ", max_size=8),
    st.sampled_from(
        [
            "https%3A%2F%2Fm.facebook.com%2FSome.Page%3Fref%3Dx",
            "https%3A%2F%2Fl.facebook.com%2Fl.php%3Fu%3Dhttps%253A%252F%252Fsite.pk%252FA",
            "javascript%3Aalert(1)",
            "923001234567",
            "%2B923001234567",
            "AbC_12",
        ]
    ),
)


def random_case(draw: st.DrawFn, s: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(s), max_size=len(s)))
    return "".join(c.upper() if f else c for c, f in zip(s, flips, strict=True))


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = random_case(draw, draw(st.sampled_from(["", "", "http://", "https://", "//"])))
    www = draw(st.sampled_from(["", "", "www."]))
    host = random_case(draw, draw(st.sampled_from(HOSTS)))
    port = draw(st.sampled_from(["", "", ":80", ":443", ":8080", ":"]))
    path = "/".join(draw(st.lists(SEGMENTS, max_size=4)))
    slash = draw(st.sampled_from(["", "/"]))
    params = draw(st.lists(st.tuples(PARAM_KEYS, PARAM_VALUES), max_size=4))
    query = "&".join(k if v is None else f"{k}={v}" for k, v in params)
    fragment = draw(st.sampled_from(["", "", "#x", "#/a?b=c"]))
    path = "/" + path if path else ""
    query = "?" + query if query else ""
    return f"{scheme}{www}{host}{port}{path}{slash}{query}{fragment}"


@SETTINGS
@given(urls())
def test_canonicalize_is_idempotent(url: str) -> None:
    first = canonicalize(url)
    if first is not None:
        assert first.startswith("https://")
        assert canonicalize(first) == first
        assert platform_of(first) in PLATFORMS


@SETTINGS
@given(st.text(max_size=200))
def test_canonicalize_never_raises(text: str) -> None:
    first = canonicalize(text)
    if first is not None:
        assert canonicalize(first) == first


@st.composite
def facebook_page_variants(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,20}", fullmatch=True))
    scheme = draw(st.sampled_from(["", "http://", "https://", "HTTPS://"]))
    www = draw(st.sampled_from(["", "www.", "WWW."]))
    host = random_case(draw, draw(st.sampled_from(FB_HOSTS)))
    written = random_case(draw, name)
    slash = draw(st.sampled_from(["", "/"]))
    tracking = draw(
        st.lists(
            st.sampled_from(
                ["ref=bookmarks", "fbclid=IwAR0x", "mibextid=ZbWKwL", "__tn__=%2CO", "utm_source=wa"]
            ),
            max_size=3,
        )
    )
    fragment = draw(st.sampled_from(["", "#", "#posts"]))
    query = "?" + "&".join(tracking) if tracking else ""
    return f"{scheme}{www}{host}/{written}{slash}{query}{fragment}", f"https://facebook.com/{name.lower()}"


@SETTINGS
@given(facebook_page_variants())
def test_facebook_page_variants_meet(case: tuple[str, str]) -> None:
    url, expected = case
    assert canonicalize(url) == expected


@st.composite
def telegram_variants(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{4,20}", fullmatch=True))
    scheme = draw(st.sampled_from(["", "http://", "https://"]))
    host = random_case(draw, draw(st.sampled_from(["t.me", "telegram.me", "telegram.dog", "www.t.me"])))
    preview = draw(st.sampled_from(["", "s/"]))
    tail = draw(st.sampled_from(["", "/", "?before=10", "/?single"]))
    return f"{scheme}{host}/{preview}{random_case(draw, name)}{tail}", f"https://t.me/{name.lower()}"


@SETTINGS
@given(telegram_variants())
def test_telegram_variants_meet(case: tuple[str, str]) -> None:
    url, expected = case
    assert canonicalize(url) == expected


@st.composite
def youtube_variants(draw: st.DrawFn) -> tuple[str, str]:
    video = draw(st.from_regex(r"[A-Za-z0-9_-]{11}", fullmatch=True))
    form = draw(
        st.sampled_from(
            [
                "youtu.be/{id}",
                "youtube.com/watch?v={id}",
                "m.youtube.com/watch?v={id}",
                "music.youtube.com/watch?v={id}",
                "youtube.com/shorts/{id}",
                "youtube.com/embed/{id}",
                "youtube.com/live/{id}",
            ]
        )
    )
    scheme = draw(st.sampled_from(["", "https://", "http://www."]))
    extra = draw(
        st.lists(st.sampled_from(["t=42", "list=PL1", "si=AbC", "feature=share", "utm_source=x"]), max_size=3)
    )
    url = scheme + form.format(id=video)
    if extra:
        url += ("&" if "?" in url else "?") + "&".join(extra)
    return url, f"https://youtube.com/watch?v={video}"


@SETTINGS
@given(youtube_variants())
def test_youtube_variants_meet(case: tuple[str, str]) -> None:
    url, expected = case
    assert canonicalize(url) == expected


@st.composite
def x_variants(draw: st.DrawFn) -> tuple[str, str]:
    user = draw(st.from_regex(r"[A-Za-z0-9_]{1,15}", fullmatch=True))
    status = draw(st.integers(min_value=1, max_value=10**19))
    host = random_case(
        draw, draw(st.sampled_from(["x.com", "www.x.com", "twitter.com", "mobile.twitter.com"]))
    )
    query = draw(st.sampled_from(["", "?s=20", "?s=20&t=AbC", "?ref_src=twsrc%5Etfw"]))
    url = f"https://{host}/{random_case(draw, user)}/status/{status}{query}"
    return url, f"https://x.com/{user.lower()}/status/{status}"


@SETTINGS
@given(x_variants())
def test_x_variants_meet(case: tuple[str, str]) -> None:
    url, expected = case
    assert canonicalize(url) == expected


@st.composite
def instagram_variants(draw: st.DrawFn) -> tuple[str, str]:
    code = draw(st.from_regex(r"[A-Za-z0-9_-]{11}", fullmatch=True))
    kind = draw(st.sampled_from(["p", "reel"]))
    host = draw(st.sampled_from(["instagram.com", "www.instagram.com", "instagr.am", "m.instagram.com"]))
    tail = draw(st.sampled_from(["", "/", "/?igsh=MzRl", "/?utm_source=ig_web_copy_link&igshid=1"]))
    written_kind = "reels" if kind == "reel" and draw(st.booleans()) else kind
    return f"https://{host}/{written_kind}/{code}{tail}", f"https://instagram.com/{kind}/{code}"


@SETTINGS
@given(instagram_variants())
def test_instagram_variants_meet(case: tuple[str, str]) -> None:
    url, expected = case
    assert canonicalize(url) == expected


@st.composite
def tiktok_variants(draw: st.DrawFn) -> tuple[str, str]:
    user = draw(st.from_regex(r"[A-Za-z0-9_.]{2,20}", fullmatch=True))
    video = draw(st.integers(min_value=1, max_value=10**19))
    host = draw(st.sampled_from(["tiktok.com", "www.tiktok.com", "m.tiktok.com"]))
    query = draw(
        st.sampled_from(["", "?is_from_webapp=1&sender_device=pc", "?_r=1&_t=8abc", "?utm_source=x"])
    )
    url = f"https://{host}/@{random_case(draw, user)}/video/{video}{query}"
    return url, f"https://tiktok.com/@{user.lower()}/video/{video}"


@SETTINGS
@given(tiktok_variants())
def test_tiktok_variants_meet(case: tuple[str, str]) -> None:
    url, expected = case
    assert canonicalize(url) == expected


def check_found(text: str, found: list[FoundUrl], limit: int) -> None:
    assert len(found) <= max(limit, 0)
    assert len({f.canonical for f in found}) == len(found)
    assert [f.start for f in found] == sorted(f.start for f in found)
    for f in found:
        assert 0 <= f.start < f.end <= min(len(text), 100_000)
        assert text[f.start : f.end] == f.raw
        assert canonicalize(f.raw) == f.canonical
        assert platform_of(f.canonical) == f.platform


@SETTINGS
@given(st.text(), st.integers(min_value=-1, max_value=25))
def test_find_urls_never_raises_on_any_text(text: str, limit: int) -> None:
    check_found(text, find_urls(text, limit), limit)


MESSAGE_PARTS = st.one_of(
    urls(),
    st.sampled_from(
        [
            " ",
            "  ",
            "\n",
            "۔",
            "،",
            "دیکھیں",
            "یہ پیج",
            "bhai ye",
            "(",
            ")",
            "[",
            "]",
            ".",
            ",",
            "!",
            "'",
            '"',
            "3.5",
            "report.pdf",
            "ali@gmail.com",
            "javascript:",
            "mailto:",
            "\x00",
            "\u200b",
        ]
    ),
)


@SETTINGS
@given(st.lists(MESSAGE_PARTS, max_size=12), st.integers(min_value=1, max_value=5))
def test_find_urls_on_messages_with_links(parts: list[str], limit: int) -> None:
    text = "".join(parts)
    check_found(text, find_urls(text, limit), limit)


# --------------------------------------------------------------------------------------------------
# case: ids that are case-sensitive keep their case; hosts, handles and user names fold (issue 14)

CASE_KEPT = [
    # facebook: post ids (pfbid…), share codes, reel and video ids, story ids
    (
        "https://www.facebook.com/Some.Page/posts/pfbid0AbCdEf",
        "https://facebook.com/some.page/posts/pfbid0AbCdEf",
    ),
    (
        "https://m.facebook.com/Some.Page/Posts/pfbid02XyZ/?mibextid=1",
        "https://facebook.com/some.page/posts/pfbid02XyZ",
    ),
    (
        "https://www.facebook.com/groups/Some.Group/posts/pfbid0AbC/",
        "https://facebook.com/groups/some.group/posts/pfbid0AbC",
    ),
    (
        "https://www.facebook.com/permalink.php?story_fbid=pfbid0AbC&id=100",
        "https://facebook.com/permalink.php?id=100&story_fbid=pfbid0AbC",
    ),
    ("https://www.facebook.com/share/r/1AbCdE/", "https://facebook.com/share/r/1AbCdE"),
    ("https://www.facebook.com/Share/V/1AbCdE", "https://facebook.com/share/v/1AbCdE"),
    ("https://www.facebook.com/reel/AbC123", "https://facebook.com/reel/AbC123"),
    ("https://www.facebook.com/Some.Page/videos/AbC123", "https://facebook.com/some.page/videos/AbC123"),
    ("https://www.facebook.com/stories/100/UzpfSTEw/", "https://facebook.com/stories/100/UzpfSTEw"),
    (
        "https://www.facebook.com/Some.Page/SomethingNew/AbC",
        "https://facebook.com/some.page/SomethingNew/AbC",
    ),
    ("https://www.facebook.com/hashtag/Jihad", "https://facebook.com/hashtag/jihad"),
    # youtube: video, channel, playlist, post and clip ids keep case; handles and custom names fold
    ("https://www.youtube.com/Shorts/dQw4w9WgXcQ", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://www.youtube.com/channel/UCAbC/Videos", "https://youtube.com/channel/UCAbC/videos"),
    ("https://www.youtube.com/@Some_Handle", "https://youtube.com/@some_handle"),
    ("https://www.youtube.com/c/Some_Name", "https://youtube.com/c/some_name"),
    ("https://www.youtube.com/user/Some_Name/Videos", "https://youtube.com/user/some_name/videos"),
    ("https://www.youtube.com/Some_Name", "https://youtube.com/some_name"),
    ("https://www.youtube.com/post/UgkxAbC", "https://youtube.com/post/UgkxAbC"),
    ("https://www.youtube.com/clip/UgkxAbC", "https://youtube.com/clip/UgkxAbC"),
    ("https://www.youtube.com/hashtag/Pakistan", "https://youtube.com/hashtag/pakistan"),
    # telegram: invites and codes keep case, user names fold
    ("https://t.me/Some_Channel/12", "https://t.me/some_channel/12"),
    ("https://t.me/+AbCdEf/", "https://t.me/+AbCdEf"),
    ("https://t.me/AddStickers/AbC", "https://t.me/addstickers/AbC"),
    ("https://t.me/Some_Bot/SomeApp?startapp=AbC", "https://t.me/some_bot/SomeApp"),
    # instagram: shortcodes keep case, user names and hashtags fold
    ("https://www.instagram.com/Some_User/Reels", "https://instagram.com/some_user/reels"),
    ("https://www.instagram.com/stories/Some_User/123", "https://instagram.com/stories/some_user/123"),
    ("https://www.instagram.com/explore/tags/Pakistan/", "https://instagram.com/explore/tags/pakistan"),
    ("https://www.instagram.com/TV/CAbC12", "https://instagram.com/tv/CAbC12"),
    # tiktok: user names fold, short codes keep case
    ("https://www.tiktok.com/@Some_User/Video/7", "https://tiktok.com/@some_user/video/7"),
    ("https://vm.tiktok.com/ZMAbC12/", "https://vm.tiktok.com/ZMAbC12"),
    ("https://vt.tiktok.com/ZSAbC12/", "https://vt.tiktok.com/ZSAbC12"),
    ("https://www.tiktok.com/tag/Pakistan", "https://tiktok.com/tag/pakistan"),
    # x: user names fold, ids under /i/ keep case
    ("https://x.com/Some_User/status/123/Photo/1", "https://x.com/some_user/status/123/photo/1"),
    ("https://x.com/i/spaces/1YqKDoBnLZbGV", "https://x.com/i/spaces/1YqKDoBnLZbGV"),
    ("https://twitter.com/I/Broadcasts/1yNGaQ", "https://x.com/i/broadcasts/1yNGaQ"),
    # whatsapp: invite and short-link codes keep case
    ("https://chat.whatsapp.com/invite/AbCdEf", "https://chat.whatsapp.com/invite/AbCdEf"),
    ("https://wa.me/message/AbCdEf", "https://wa.me/message/AbCdEf"),
    # the web: paths keep case, hosts fold
    ("https://WWW.Site.PK/Some/Path?Q=AbC", "https://site.pk/Some/Path?Q=AbC"),
]


@pytest.mark.parametrize(("url", "expected"), CASE_KEPT)
def test_case_sensitive_parts_keep_case(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # two posts of one page whose pfbid ids differ only in case
        (
            "https://www.facebook.com/Some.Page/posts/pfbid0AbCd",
            "https://www.facebook.com/Some.Page/posts/pfbid0aBcD",
        ),
        ("https://facebook.com/groups/g/posts/pfbid0AbCd", "https://facebook.com/groups/g/posts/pfbid0abcd"),
        (
            "https://m.facebook.com/story.php?story_fbid=pfbid0AbC&id=1",
            "https://m.facebook.com/story.php?story_fbid=pfbid0abc&id=1",
        ),
        ("https://www.facebook.com/share/p/1AbCdE/", "https://www.facebook.com/share/p/1abcde/"),
        ("https://www.facebook.com/share/r/1AbCdE/", "https://www.facebook.com/share/r/1ABCDE/"),
        ("https://www.facebook.com/reel/1AbCdE", "https://www.facebook.com/reel/1abcde"),
        # youtube video and channel ids
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dqw4w9wgxcq"),
        ("https://youtu.be/dQw4w9WgXcQ", "https://youtu.be/DQW4W9WGXCQ"),
        ("https://youtube.com/shorts/AbCdEfGhIjK", "https://youtube.com/shorts/abcdefghijk"),
        ("https://youtube.com/embed/AbCdEfGhIjK", "https://youtube.com/embed/ABCDEFGHIJK"),
        ("https://youtube.com/live/AbCdEfGhIjK", "https://youtube.com/live/abcdEFGHijk"),
        ("https://youtube.com/channel/UCAbCdEf", "https://youtube.com/channel/UCabcdef"),
        # telegram invites
        ("https://t.me/+AbCdEf123", "https://t.me/+abcdef123"),
        ("https://t.me/joinchat/AbCdEf123", "https://t.me/joinchat/ABCDEF123"),
        # instagram shortcodes
        ("https://www.instagram.com/p/CAbC12/", "https://www.instagram.com/p/Cabc12/"),
        ("https://www.instagram.com/reel/CAbC12/", "https://www.instagram.com/reel/CABC12/"),
        # tiktok short codes, whatsapp invites, the web
        ("https://vm.tiktok.com/ZMAbC12/", "https://vm.tiktok.com/ZMabc12/"),
        ("https://www.tiktok.com/t/ZTAbC/", "https://www.tiktok.com/t/ZTabc/"),
        ("https://chat.whatsapp.com/AbCdEf", "https://chat.whatsapp.com/abcdef"),
        ("https://site.pk/Article", "https://site.pk/article"),
    ],
)
def test_ids_differing_only_in_case_stay_apart(first: str, second: str) -> None:
    a, b = canonicalize(first), canonicalize(second)
    assert a is not None and b is not None
    assert a != b


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("https://WWW.Facebook.com/Some.Page", "https://www.facebook.com/some.page"),
        (
            "https://www.facebook.com/SOME.PAGE/posts/pfbid0AbC",
            "https://facebook.com/some.page/posts/pfbid0AbC",
        ),
        ("https://www.facebook.com/Groups/Some.Group", "https://facebook.com/groups/some.group"),
        ("https://www.youtube.com/@Some_Handle/Videos", "https://youtube.com/@some_handle/videos"),
        ("https://YOUTU.BE/dQw4w9WgXcQ", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
        ("https://T.ME/Some_Channel", "https://t.me/some_channel"),
        ("https://t.me/SOME_CHANNEL/5", "https://t.me/some_channel/5"),
        ("https://Instagram.com/Some_User/", "https://instagram.com/some_user"),
        ("https://instagram.com/SOME_USER/p/CAbC12", "https://instagram.com/some_user/p/CAbC12"),
        ("https://tiktok.com/@SOME_USER/video/7", "https://tiktok.com/@some_user/video/7"),
        ("https://X.com/SOME_USER/status/7", "https://x.com/some_user/status/7"),
        ("https://Chat.WhatsApp.com/AbCdEf", "https://chat.whatsapp.com/AbCdEf"),
        ("https://SITE.pk/Article", "https://site.pk/Article"),
    ],
)
def test_hosts_and_names_fold_case(first: str, second: str) -> None:
    assert canonicalize(first) == canonicalize(second) is not None


CASE_SAMPLES = [
    "https://www.facebook.com/Some.Page/posts/pfbid0AbCdEf",
    "https://www.facebook.com/share/p/1AbCdE/",
    "https://m.facebook.com/story.php?story_fbid=pfbid0AbC&id=100",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://youtu.be/dQw4w9WgXcQ",
    "https://www.youtube.com/channel/UCAbC/videos",
    "https://www.youtube.com/@Some_Handle",
    "https://t.me/+AbCdEf",
    "https://t.me/joinchat/AbCd",
    "https://t.me/Some_Channel/5",
    "https://www.instagram.com/p/CAbC12/",
    "https://www.instagram.com/Some_User",
    "https://www.tiktok.com/@Some_User/video/7",
    "https://vm.tiktok.com/ZMAbC/",
    "https://x.com/Some_User/status/7",
    "https://chat.whatsapp.com/AbCdEf",
    "https://Forum.NET/Threads/View.php?id=7",
]


def _with_host_case(url: str, flips: list[bool]) -> str:
    scheme, _, rest = url.partition("://")
    host, sep, tail = rest.partition("/")
    flipped = "".join(c.swapcase() if f else c for c, f in zip(host, flips, strict=False))
    return f"{scheme}://{flipped}{host[len(flipped) :]}{sep}{tail}"


@SETTINGS
@given(st.sampled_from(CASE_SAMPLES), st.lists(st.booleans(), min_size=30, max_size=30))
def test_case_of_the_host_never_changes_the_result(url: str, flips: list[bool]) -> None:
    assert canonicalize(_with_host_case(url, flips)) == canonicalize(url)


@st.composite
def case_variant_ids(draw: st.DrawFn) -> tuple[str, str]:
    """Two spellings of a link that differ only in the case of a case-sensitive id."""
    code = draw(
        st.from_regex(r"[A-Za-z0-9_-]{6,11}", fullmatch=True).filter(lambda s: s.lower() != s.upper())
    )
    other = random_case(draw, code)
    if other == code:
        other = code.swapcase()
    form = draw(
        st.sampled_from(
            [
                "https://www.facebook.com/Some.Page/posts/pfbid0{id}",
                "https://facebook.com/groups/Some.Group/posts/pfbid0{id}",
                "https://m.facebook.com/permalink.php?story_fbid=pfbid0{id}&id=1",
                "https://www.facebook.com/share/p/{id}/",
                "https://www.facebook.com/share/r/{id}/",
                "https://www.facebook.com/share/{id}/",
                "https://www.facebook.com/reel/{id}",
                "https://www.youtube.com/watch?v={id}",
                "https://youtu.be/{id}",
                "https://youtube.com/shorts/{id}",
                "https://youtube.com/embed/{id}",
                "https://youtube.com/live/{id}",
                "https://youtube.com/channel/UC{id}",
                "https://t.me/+{id}",
                "https://t.me/joinchat/{id}",
                "https://instagram.com/p/{id}",
                "https://instagram.com/reel/{id}",
                "https://vm.tiktok.com/ZM{id}/",
                "https://tiktok.com/t/ZT{id}/",
                "https://chat.whatsapp.com/{id}",
                "https://x.com/i/spaces/1{id}",
            ]
        )
    )
    return form.format(id=code), form.format(id=other)


@SETTINGS
@given(case_variant_ids())
def test_case_variants_of_an_id_are_different_links(case: tuple[str, str]) -> None:
    first, second = (canonicalize(u) for u in case)
    assert first is not None and second is not None
    assert first != second
    assert canonicalize(first) == first
    assert canonicalize(second) == second


@st.composite
def case_variant_names(draw: st.DrawFn) -> tuple[str, str]:
    """A link and the same link with the host and the handle in another case."""
    name = draw(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{4,15}", fullmatch=True))
    form = draw(
        st.sampled_from(
            [
                "https://{host:www.facebook.com}/{name}",
                "https://{host:www.facebook.com}/{name}/posts/pfbid0AbC",
                "https://{host:www.youtube.com}/@{name}",
                "https://{host:www.youtube.com}/c/{name}",
                "https://{host:t.me}/{name}",
                "https://{host:t.me}/{name}/12",
                "https://{host:www.instagram.com}/{name}",
                "https://{host:www.instagram.com}/{name}/p/CAbC12",
                "https://{host:www.tiktok.com}/@{name}/video/7",
                "https://{host:x.com}/{name}/status/7",
            ]
        )
    )
    host = form.split("{host:")[1].split("}")[0]
    template = form.replace("{host:" + host + "}", "{host}")
    first = template.format(host=host, name=name)
    second = template.format(host=random_case(draw, host), name=random_case(draw, name))
    return first, second


@SETTINGS
@given(case_variant_names())
def test_case_variants_of_hosts_and_names_meet(case: tuple[str, str]) -> None:
    first, second = (canonicalize(u) for u in case)
    assert first is not None
    assert first == second
    assert canonicalize(first) == first


def test_every_platform_has_case_rules() -> None:
    from nlu.urls import _CASE_RULES

    assert set(_CASE_RULES) == set(PLATFORMS)
