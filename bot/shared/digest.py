"""The weekly digest's message: this week's item of the library as an outbox payload.

The library is the Learn cards and the answers to recruiters' claims (bot/shared/library.py). Each ISO
week has its item, the same for every subscriber, in turn: every item comes once before any comes again.
`raabta digest send` (cyberunit) builds it and the citizen's Learn flow offers it, so it lives here, where
both sides may import it, rather than in the dialogue. Every word of it comes from responses/."""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.shared import library
from responses import Catalog

BUTTONS = (("digest:off", "buttons.digest_off"), ("nav:menu", "buttons.nav_menu"))


def week_item(catalog: Catalog, week: date) -> str:
    """The item (its catalogue key, bot/shared/library.py) of the ISO week that contains `week`: the
    library's items in turn, one a week, counted from a fixed Monday."""
    every = library.items(catalog)
    monday = date.fromisocalendar(*week.isocalendar()[:2], 1)
    return every[(monday.toordinal() // 7) % len(every)]


def digest_message(catalog: Catalog, lang: str, week: date, public_url: str = "") -> dict[str, Any]:
    """The outbox payload of this week's item in `lang`: header; a card with its source, or a claim in
    the recruiters' words and its answer with its sources; the link that passes it on (with a public
    address); how to stop."""
    key = week_item(catalog, week)
    parts = [catalog.text("digest.header", lang)]
    if key.startswith(f"{library.CLAIMS}."):
        parts.append(catalog.text("digest.claim", lang) + "\n" + catalog.text(f"{key}.claim", lang))
    parts.append(catalog.text(key, lang))
    shared = library.share_line(catalog, lang, public_url, library.link_id(key))
    parts += [shared] if shared else []
    parts.append(catalog.text("digest.footer", lang))
    buttons = [{"id": choice, "label": catalog.text(label, lang)} for choice, label in BUTTONS]
    return {"text": "\n\n".join(parts), "buttons": buttons}
