"""Conversation states this process's turns wrote, kept to skip the read at the start of the next turn.

Write-through: a turn that committed puts its state here with the version it stored; one that found a
different version (another instance's turn, a purge, forget-me) drops it. The version check in the
turn's UPDATE is what keeps this correct with several instances: a stale entry costs one retried turn,
never a lost update. Entries are kept serialised, so no caller can change a cached state in place; the
least recently used go beyond `size` entries or `budget` bytes (a state with a long draft can weigh tens
of KB: memory is bounded by bytes, not by conversations).
Kept as UTF-8 bytes, not str: one Urdu letter makes a Python str two bytes a character throughout, its
ASCII included.
The budget is what the active conversations of a busy minute need (at 500 messages a second, a few
thousand web chat states); issue 23's memory target (200 MB after 100,000 messages) bounds it.

Beside an entry, the caller may keep what it made of that state (`keep`: the pipeline keeps the turn's
`State`, so the next turn neither reads the JSON nor builds the state from it again: issue 23's profile
had that at 6% of the event loop's time). It is handed out once (`take`: the turn that takes it may change
it, so nothing else can have it) and only for the entry it was kept for: replacing, dropping or evicting
the entry drops it, so it is exactly as fresh as the entry is. At most `kept` of them: a state object
weighs several times its JSON.
"""

from __future__ import annotations

from collections import OrderedDict

from storage.engine import json_bytes, json_value
from storage.records import Conversation

SIZE = 20_000  # conversations
BUDGET = 8_000_000  # bytes of serialised state (UTF-8 JSON), all entries together
KEPT = 4_096  # states kept as the caller made them (`keep`), the most recently kept


class StateCache:
    def __init__(self, size: int = SIZE, budget: int = BUDGET, kept: int = KEPT) -> None:
        self.size = size
        self.budget = budget
        self.kept = kept
        self.held = 0  # bytes held now
        # id -> (state as UTF-8 JSON, version)
        self._entries: OrderedDict[str, tuple[bytes | None, int]] = OrderedDict()
        self._made: OrderedDict[str, tuple[int, object]] = OrderedDict()  # id -> (version, what `keep` got)

    def get(self, conversation_id: str) -> Conversation | None:
        found = self._entries.get(conversation_id)
        if found is None:
            return None
        self._entries.move_to_end(conversation_id)
        text, version = found
        if text is None:
            return Conversation(None, version)
        return Conversation.encoded(text, json_value, version)  # read only if asked for

    def put(self, conversation_id: str, conversation: Conversation, encoded: bytes | None = None) -> None:
        """`encoded`: the state as `json_bytes` made it already (a plain turn's row)."""
        state = conversation.state
        text = encoded if encoded is not None else json_bytes(state) if state is not None else None
        self.drop(conversation_id)
        self._entries[conversation_id] = (text, conversation.version)
        self.held += len(text or b"")
        while len(self._entries) > self.size or self.held > self.budget:
            gone, (old, _) = self._entries.popitem(last=False)
            self.held -= len(old or b"")
            self._made.pop(gone, None)

    def keep(self, conversation_id: str, version: int, made: object) -> None:
        """Keep `made` (what the caller made of the entry's state) beside the entry, if the entry is there
        at `version`; else nothing is kept."""
        found = self._entries.get(conversation_id)
        if found is None or found[1] != version:
            return
        self._made.pop(conversation_id, None)
        self._made[conversation_id] = (version, made)
        while len(self._made) > self.kept:
            self._made.popitem(last=False)

    def take(self, conversation_id: str, version: int) -> object | None:
        """What `keep` kept beside the entry at `version`, handed out once; None when nothing was, or it
        was kept for another version."""
        found = self._made.pop(conversation_id, None)
        if found is None or found[0] != version:
            return None
        entry = self._entries.get(conversation_id)
        return found[1] if entry is not None and entry[1] == version else None

    def drop(self, conversation_id: str) -> None:
        self._made.pop(conversation_id, None)
        found = self._entries.pop(conversation_id, None)
        if found is not None:
            self.held -= len(found[0] or b"")

    def clear(self) -> None:
        self._entries.clear()
        self._made.clear()
        self.held = 0

    def __len__(self) -> int:
        return len(self._entries)
