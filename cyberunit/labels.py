"""Words analysts and partners read for stored values: shared by the console and the exports."""

from __future__ import annotations

# storage.lifecycle.REASONS as analysts pick them; reporters are told responses/reasons.yaml's sentence.
REASON_LABELS = {
    "referred_to_platform": "Passed to the platform for removal",
    "passed_to_investigators": "Passed to investigators",
    "kept_under_watch": "Kept under watch",
    "not_extremist": "Not extremist content",
    "already_removed": "Already removed",
    "not_enough_information": "Not enough information to find or confirm it",
    "duplicate": "Already looked at after an earlier report",
}

# What the "scope check" mark on a report or case means (the console's tooltip and help text).
SCOPE_CHECK_HELP = (
    "The reporter was told Raabta is for violence, recruitment, financing, threats and weapons, and that "
    "accusing someone can endanger lives; they went on believing it incites violence. Check that this is "
    "not opinion or a blasphemy accusation."
)
