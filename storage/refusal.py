"""Actions a caller asked for that cannot be done, as domain errors: what kind of refusal and why.

Nothing changed when one is raised (the transaction rolls back). Storage knows nothing of HTTP: the API and
the console map each kind to a status (cyberunit.problems.http_status); the CLI prints the message.
"""

from __future__ import annotations


class Refused(Exception):
    """The action is refused; `message` says why, in words an analyst or counsellor can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(Refused):
    """The input is wrong (a missing note, an unknown status, a number out of range)."""


class NotAllowed(Refused):
    """The caller's role may not do this (an analyst referring a case that needs care)."""


class NotFound(Refused):
    """There is no such case, request or block."""


class Conflict(Refused):
    """The thing is not in a state that allows it now (held by someone else, closed, changed meanwhile)."""


class TooLarge(Refused):
    """The input is larger than allowed."""


class TooMany(Refused):
    """The caller did this too often lately (a counsellor revealing numbers past the hourly limit); it is
    allowed again after `retry_after` seconds, which the API sends as Retry-After."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
