"""An action a caller asked for that cannot be done: the API and console answer `status` with `message`."""

from __future__ import annotations


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
