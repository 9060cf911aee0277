"""Progress events: what the pipeline tells its caller while it works.

Core code emits these and never prints; a reporter (see progress.py) renders them.
NamedTuples rather than dataclasses: they are created at every start-up, and cost a
fraction of a dataclass to define.
"""

from collections.abc import Callable
from typing import NamedTuple


class Step(NamedTuple):
    """A phase starts or a notable thing happened ("Probing LM Studio at ...")."""

    message: str


class Notice(NamedTuple):
    """Something the user should know that does not stop the run."""

    message: str


class Transfer(NamedTuple):
    """Bytes of a download so far; ``total`` is None while the size is unknown."""

    label: str
    completed: int
    total: int | None
    rate: float | None = None  # bytes per second, where the server reports it (else the renderer measures)
    # Whether the transfer is over: None means "when completed reaches total"; False means not yet,
    # whatever the counts (an Ollama pull whose next layers are not announced yet); True, over.
    final: bool | None = None

    @property
    def finished(self) -> bool:
        if self.final is not None:
            return self.final
        return self.total is not None and self.completed >= self.total


class ChildOutput(NamedTuple):
    """Raw bytes a child process (``lms``) wrote to its stdout or stderr."""

    data: bytes
    stream: str  # "stdout" | "stderr"


class WaitStarted(NamedTuple):
    """A blocking wait begins (model load); renderers show a spinner with elapsed time."""

    message: str


class WaitEnded(NamedTuple):
    message: str
    seconds: float
    ok: bool


Event = Step | Notice | Transfer | ChildOutput | WaitStarted | WaitEnded
Reporter = Callable[[Event], None]


def ignore(event: Event) -> None:
    """A reporter that drops everything."""
