"""What `nlu.parse` returns: the contract every backend (rules, scikit-learn, Rasa) keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Entity:
    entity: str  # url | platform | handle | reference
    value: str
    start: int
    end: int
    extra: dict[str, str] = field(default_factory=dict)  # url: canonical, platform

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "value": self.value,
            "start": self.start,
            "end": self.end,
            **self.extra,
        }


@dataclass(frozen=True, slots=True)
class Parse:
    text: str
    language: str
    intent: Intent
    intent_ranking: tuple[Intent, ...] = ()
    entities: tuple[Entity, ...] = ()

    def values(self, entity: str) -> list[str]:
        """The values of one kind of entity, in order of appearance."""
        return [e.value for e in self.entities if e.entity == entity]

    def urls(self) -> list[Entity]:
        return [e for e in self.entities if e.entity == "url"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "language": self.language,
            "intent": {"name": self.intent.name, "confidence": round(self.intent.confidence, 4)},
            "intent_ranking": [
                {"name": i.name, "confidence": round(i.confidence, 4)} for i in self.intent_ranking
            ],
            "entities": [e.to_dict() for e in self.entities],
        }
