"""The status update template: its definitions to submit to Meta, and the message that uses it.

One template name (RAABTA_WHATSAPP_TEMPLATE, `raabta_status_update` by default), category UTILITY, one
body variable: the update itself, between a fixed first sentence and a fixed last one (Meta refuses a
variable at the start or the end of a body). English is submitted as `en`, Urdu as `ur`; Meta has no
language code for Roman Urdu, so it is a template of its own, `<name>_roman`, submitted as `en`.

A variable may not hold new lines, tabs or more than four spaces in a row: the update is flattened into
one line and cut (grapheme-safely) so the body stays within 1,024 characters. The texts live in
responses/whatsapp.yaml. Only the languages listed in RAABTA_WHATSAPP_TEMPLATE_LANGUAGES (approved by
Meta) are used; for the others `message` is None.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bot.channels.whatsapp_render import title
from responses import LANGUAGES, Catalog

MAX_BODY = 1024
CATEGORY = "UTILITY"
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Template:
    lang: str  # ours: en, ur, ur-Latn
    name: str
    code: str  # Meta's language code
    intro: str
    outro: str
    example: str

    def definition(self) -> dict[str, Any]:
        """What to submit (POST /{waba-id}/message_templates, or the dashboard's form)."""
        return {
            "name": self.name,
            "language": self.code,
            "category": CATEGORY,
            "components": [
                {
                    "type": "BODY",
                    "text": f"{self.intro} {{{{1}}}} {self.outro}",
                    "example": {"body_text": [[self.example]]},
                }
            ],
        }

    def message(self, update: str) -> dict[str, Any]:
        """The Cloud API message object sending this template with `update` as its variable."""
        room = MAX_BODY - len(self.intro) - len(self.outro) - 2
        flat = _SPACES.sub(" ", update).strip() or self.example
        return {
            "type": "template",
            "template": {
                "name": self.name,
                "language": {"code": self.code},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": title(flat, room)}]}],
            },
        }


class Templates:
    def __init__(self, catalog: Catalog, name: str, approved: str = "") -> None:
        self.all = {lang: _template(catalog, name, lang) for lang in LANGUAGES}
        self.approved = frozenset(e for e in approved.split(",") if e in self.all)

    def message(self, lang: str, update: str) -> dict[str, Any] | None:
        """The template message in `lang` when Meta approved it there, else None."""
        return self.all[lang].message(update) if lang in self.approved else None

    def definitions(self) -> str:
        """Every language's definition, as JSON to submit (what `raabta whatsapp templates` prints)."""
        return json.dumps([t.definition() for t in self.all.values()], ensure_ascii=False, indent=2)


def _template(catalog: Catalog, name: str, lang: str) -> Template:
    roman = lang == "ur-Latn"
    return Template(
        lang,
        f"{name}_roman" if roman else name,
        "en" if roman else lang,
        catalog.text("whatsapp.template_intro", lang),
        catalog.text("whatsapp.template_outro", lang),
        catalog.text("whatsapp.template_example", lang),
    )
