"""The awareness library: the Learn cards (responses/learn.yaml) and the answers to recruiters' claims
(responses/claims.yaml), in the order the weekly digest goes through them, and the links that open the
web chat on one of them (issue 24).

An item is its catalogue key: `learn.<card>`, `<card>.<card of its own>` (a Learn card's own cards, the
`_cards` of responses/<card>.yaml, come right after it) or `claims.<claim>`. A link names a Learn card or a
claim by its id alone, the card's name or the claim's id (`<RAABTA_PUBLIC_URL>/chat?card=democracy_kufr`);
the two kinds of id never meet (tests/test_share_card.py checks it), and a card's own card is passed on
by its card's link. Both sides use it: the Learn flow adds the link under a card and opens the card a link
names, and `raabta digest send` picks the week's item.
"""

from __future__ import annotations

import re
from fractions import Fraction

from responses import Catalog
from responses.bidi import isolate

LEARN = "learn"
CLAIMS = "claims"
ID = re.compile(r"[a-z][a-z0-9_]{0,39}")  # a card's name or a claim's id (responses/claims.py)
PAGE = "/chat"  # the web chat's page (bot/channels/webchat.py)


def cards(catalog: Catalog) -> tuple[str, ...]:
    """The Learn cards in learn.yaml's order, each followed by its own cards (in its file's order)."""
    return tuple(
        key
        for card in catalog.cards(LEARN)
        for key in (f"{LEARN}.{card}", *(f"{card}.{own}" for own in catalog.cards(card)))
    )


def items(catalog: Catalog) -> tuple[str, ...]:
    """Every card and every claim once, each kind spread evenly among the other (with 5 cards and 22
    claims, a card every fifth or sixth week), in the files' order within each kind: the digest's turn."""
    claims = catalog.claims.ids() if catalog.claims is not None else ()
    kinds = (cards(catalog), [f"{CLAIMS}.{c}" for c in claims])
    placed = [
        (Fraction(2 * at + 1, 2 * len(kind)), order, key)
        for order, kind in enumerate(kinds)
        for at, key in enumerate(kind)
    ]
    return tuple(key for _, _, key in sorted(placed))


def find(catalog: Catalog, item_id: str) -> str | None:
    """The item a link's id names (its catalogue key); None for anything else: garbled, too long, or a
    card or claim since removed."""
    if not ID.fullmatch(item_id):
        return None
    if item_id in catalog.cards(LEARN):
        return f"{LEARN}.{item_id}"
    if catalog.claims is not None and catalog.claims.get(item_id) is not None:
        return f"{CLAIMS}.{item_id}"
    return None


def link_id(item: str) -> str:
    """The id a link names an item by: a Learn card's name (its own cards are passed on by its card's
    link), a claim's id."""
    topic, _, name = item.partition(".")
    return name if topic in (LEARN, CLAIMS) else topic


def link(public_url: str, item_id: str) -> str:
    """The address that opens the web chat on an item."""
    return f"{public_url.rstrip('/')}{PAGE}?card={item_id}"


def share_line(catalog: Catalog, lang: str, public_url: str, item_id: str) -> str:
    """The line under a card or an answer that passes it on, its link last; "" when the service has no
    public address (RAABTA_PUBLIC_URL unset)."""
    if not public_url:
        return ""
    return isolate(f"{catalog.text('share.line', lang)} {link(public_url, item_id)}", lang)
