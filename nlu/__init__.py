"""Natural-language understanding: `parse(text) -> Parse` (language, intent, entities).

The interface is the contract (see DESIGN.md, "raabta nlu parse"); what computes it can change.

`parse` and `aparse` are looked up on first use (PEP 562): importing a light part of the package, such as
`nlu.urls` for link canonicalisation in storage and `raabta queue ...`, must not load the parser's model
and numpy (about 0.18 s in every CLI process, issue 23).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nlu.types import Entity, Intent, Parse

if TYPE_CHECKING:
    from nlu.parser import aparse, parse

__all__ = ["Entity", "Intent", "Parse", "aparse", "parse"]


def __getattr__(name: str) -> Any:
    """`nlu.parse` and `nlu.aparse`, imported from nlu.parser the first time they are asked for."""
    if name in ("parse", "aparse"):
        from nlu import parser

        found = globals()[name] = getattr(parser, name)  # asked once: later lookups find it directly
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
