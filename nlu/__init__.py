"""Natural-language understanding: `parse(text) -> Parse` (language, intent, entities).

The interface is the contract (see DESIGN.md, "raabta nlu parse"); what computes it can change.
"""

from __future__ import annotations

from nlu.parser import aparse, parse
from nlu.types import Entity, Intent, Parse

__all__ = ["Entity", "Intent", "Parse", "aparse", "parse"]
