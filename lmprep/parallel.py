"""Run a few blocking tasks at once (auto-detection, `status`) so that the caller keeps
control: the overall deadline ends the wait, and Ctrl-C (or SIGTERM) reaches the main thread
at once, because it never joins a thread that is blocked on the network.

The tasks run in daemon threads: a task still blocked when the caller gives up is abandoned
(its own time budget ends it soon after; a CLI process simply exits past it).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .deadline import Deadline


class Unfinished:
    """The place of a task that had not finished when the deadline passed."""

    def __repr__(self) -> str:
        return "UNFINISHED"


UNFINISHED = Unfinished()


def run_all(tasks: Sequence[Callable[[], Any]], deadline: Deadline, *,
            on_abandon: Callable[[], None] | None = None, name: str = "lmprep-task") -> list[Any]:
    """Each task's result (or the exception it raised, as a value), in order; UNFINISHED for
    those still running when ``deadline`` passed. On KeyboardInterrupt, ``on_abandon`` is
    called (to end the tasks' exchanges) and the interrupt propagates at once."""
    results: list[Any] = [UNFINISHED] * len(tasks)
    done: queue.SimpleQueue = queue.SimpleQueue()

    def run(index: int, task: Callable[[], Any]) -> None:
        try:
            value: Any = task()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller as a value
            value = exc
        done.put((index, value))

    pending = len(tasks)
    try:
        # Started inside the try: an interrupt while they start still abandons those started.
        for index, task in enumerate(tasks):
            threading.Thread(target=run, args=(index, task), name=f"{name}-{index}", daemon=True).start()
        while pending:
            remaining = deadline.remaining()
            if remaining is not None and remaining <= 0:
                break
            try:
                # A timed wait: the main thread stays responsive to signals on every platform.
                index, value = done.get(timeout=0.25 if remaining is None else min(0.25, remaining))
            except queue.Empty:
                continue
            results[index] = value
            pending -= 1
    except BaseException:
        if on_abandon is not None:
            on_abandon()
        raise
    if pending and on_abandon is not None:
        on_abandon()
    return results
