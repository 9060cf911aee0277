"""Progress events: what the pipeline tells its caller while it works.

Core code emits these and never prints; a reporter (see progress.py) renders them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """A phase starts or a notable thing happened ("Probing LM Studio at ...")."""

    message: str


@dataclass(frozen=True)
class Notice:
    """Something the user should know that does not stop the run."""

    message: str


@dataclass(frozen=True)
class Transfer:
    """Bytes of a download so far; ``total`` is None while the size is unknown."""

    label: str
    completed: int
    total: int | None


@dataclass(frozen=True)
class ChildOutput:
    """Raw bytes a child process (``lms``) wrote to its stdout or stderr."""

    data: bytes
    stream: str  # "stdout" | "stderr"


@dataclass(frozen=True)
class WaitStarted:
    """A blocking wait begins (model load); renderers show a spinner with elapsed time."""

    message: str


@dataclass(frozen=True)
class WaitEnded:
    message: str
    seconds: float
    ok: bool


Event = Step | Notice | Transfer | ChildOutput | WaitStarted | WaitEnded
Reporter = Callable[[Event], None]


def ignore(event: Event) -> None:
    """A reporter that drops everything."""
