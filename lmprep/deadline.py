"""The overall --timeout budget, shared by every step of one run."""

from __future__ import annotations

import time

from .errors import TimedOutError


class Deadline:
    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._expires = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float | None:
        if self._expires is None:
            return None
        return self._expires - time.monotonic()

    @property
    def expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0

    def cap(self, timeout: float | None, doing: str) -> float | None:
        """``timeout`` shortened to what is left of the budget; raises once it is spent."""
        remaining = self.remaining()
        if remaining is None:
            return timeout
        if remaining <= 0:
            raise self.error(doing)
        return remaining if timeout is None else min(timeout, remaining)

    def error(self, doing: str) -> TimedOutError:
        return TimedOutError(
            f"Gave up after {self.seconds:g} s (--timeout) while {doing}.",
            "Raise --timeout, or run lmprep again: downloads and loads continue where they stopped.",
        )
