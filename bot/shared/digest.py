"""The weekly digest's message: this week's Learn card as an outbox payload.

`raabta digest send` (cyberunit) builds it and the citizen's Learn flow offers it, so it lives here, where
both sides may import it, rather than in the dialogue."""

from __future__ import annotations

from datetime import date
from typing import Any

from responses import Catalog

BUTTONS = (("digest:off", "buttons.digest_off"), ("nav:menu", "buttons.nav_menu"))


def week_card(catalog: Catalog, week: date) -> str:
    """The card of the ISO week that contains `week`: the Learn cards in turn, one a week."""
    every = catalog.cards("learn")
    monday = date.fromisocalendar(*week.isocalendar()[:2], 1)
    return every[(monday.toordinal() // 7) % len(every)]


def digest_message(catalog: Catalog, lang: str, week: date) -> dict[str, Any]:
    """The outbox payload of this week's card in `lang`: header, card with source, how to stop."""
    card = week_card(catalog, week)
    text = "\n\n".join(
        (
            catalog.text("digest.header", lang),
            catalog.text(f"learn.{card}", lang),
            catalog.text("digest.footer", lang),
        )
    )
    buttons = [{"id": choice, "label": catalog.text(key, lang)} for choice, key in BUTTONS]
    return {"text": text, "buttons": buttons}
