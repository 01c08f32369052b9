"""The parse pipeline: normalise, detect the language, classify, find entities."""

from __future__ import annotations

from nlu import rules
from nlu.entities import find_entities
from nlu.language import detect
from nlu.normalize import normalize, tokens
from nlu.types import Entity, Intent, Parse
from nlu.urls import find_urls

CLASSIFY_CHARS = 2_000  # the classifier reads the start of a message; links are found in all of it
SCAN_CHARS = 100_000


def parse(text: str, fallback_language: str = "en") -> Parse:
    """Understand one message. Never raises; an empty or letterless text is `out_of_scope`."""
    text = text[:SCAN_CHARS]
    found = find_urls(text)
    urls = [
        Entity("url", u.raw, u.start, u.end, {"canonical": u.canonical, "platform": u.platform})
        for u in found
    ]
    others = find_entities(text, [(u.start, u.end) for u in found])
    entities = tuple(sorted([*urls, *others], key=lambda e: (e.start, e.end)))

    head = text[:CLASSIFY_CHARS]
    for u in reversed([u for u in found if u.start < CLASSIFY_CHARS]):
        head = head[: u.start] + " " + head[u.end :]
    normalized = normalize(head)
    language = detect(normalized) or fallback_language
    ranking = rules.classify(normalized, tokens(normalized))
    if urls and ranking[0].name in {"out_of_scope", "greet", "thanks"}:
        # A bare link is someone showing us a page: treat it as a report.
        ranking = [Intent("report_content", 0.9), *[i for i in ranking if i.name != "report_content"]]
    return Parse(
        text=text, language=language, intent=ranking[0], intent_ranking=tuple(ranking), entities=entities
    )
