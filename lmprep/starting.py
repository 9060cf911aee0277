"""Starting a server that is down: what each provider kind would run (its start plan).

Each provider module says how its server is started, as a ``start_plan(request)`` function that
returns a StartPlan, or None where it finds nothing to start. The runner that spawns a plan
detached, waits for the server to answer and records what it started is built on these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple


class StartRequest(NamedTuple):
    """What a provider module needs to know to say how its server would be started."""

    provider: str  # the provider's name (`ollama`, or a [providers.NAME] entry)
    kind: str
    base_url: str  # a loopback URL: lmprep starts servers on this machine only
    host: str  # as in the base URL (`127.0.0.1`, `localhost`, `[::1]`)
    port: int
    window: int | None  # the context window the agent needs (--min-context or --for), where known
    keep_alive: float | None  # seconds the server is to keep a model loaded (--keep-alive); None: its own
    options: Mapping[str, Any]  # the provider's config table: command, args, model_path, models_dir, ...
    environ: Mapping[str, str]
    which: Callable[[str], str | None]  # shutil.which, replaceable in tests


class StartPlan(NamedTuple):
    """How to start one server: argv and environment, never a shell."""

    argv: tuple[str, ...]  # the program as found (an absolute path) first; empty: nothing to run
    # Set over the environment the server gets: a plan leaves out what the user's own values decide.
    env: Mapping[str, str] = {}
    before: tuple[tuple[str, ...], ...] = ()  # run to completion first, each within the deadline (`lms daemon up`)
    hint: str | None = None  # said when argv is empty: how the user starts it (`docker model install-runner`)
    # Stops what argv started where that outlives argv's own process (`lms server stop`: `lms
    # server start` has LM Studio's service serve and returns): run when a start is cut short.
    stop: tuple[str, ...] = ()

    @property
    def described(self) -> str:
        """The command as a user would type it: program by its name, arguments quoted."""
        from .started import command_line

        return command_line(self.argv)
