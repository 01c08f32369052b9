"""The languages Raabta speaks, written here once: every text exists in each, and nlu, the dialogue, the
channels, the CLI and the console all read this list."""

from __future__ import annotations

LANGUAGES = ("en", "ur", "ur-Latn")  # English, Urdu in its own script, Roman Urdu
# Their names in English, for analysts and the command line; the citizens' buttons name each language in
# itself (responses/buttons.yaml).
NAMES = {"en": "English", "ur": "Urdu", "ur-Latn": "Roman Urdu"}
