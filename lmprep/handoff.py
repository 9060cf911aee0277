"""The hand-off to an agent once its server is ready: the variables and arguments that point
it at the server, with its files written. What `lmprep env` prints, `lmprep exec` sets and
`lmprep smoke` runs the agent with: one place, so that the three never differ."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import NotConfiguredError


def agent_files_dir():
    """Where the files agents read by a variable are written (lmprep's state directory)."""
    from .dirs import state_dir

    return state_dir() / "agents"


def measured_first_turn(readiness, agent: str) -> float | None:
    """The agent's first turn as the last `lmprep bench` of this server, model and window
    projects it (its timeouts are raised to fit); None where no bench was ever run."""
    from .dirs import state_dir

    if not os.path.isdir(state_dir() / "bench"):
        return None
    from .bench import last_result, projected_first_turn

    record = last_result(readiness.provider, readiness.base_url, readiness.model, readiness.context_length)
    return projected_first_turn(record, agent)


def hand_off(settings, readiness, agent: str, *, environ: Mapping[str, str], base_url: str | None = None):
    """The agent's setup (agents.AgentSetup) against the server ``readiness`` made ready, its
    files written. ``base_url``: where the agent is to send its requests instead of the
    server's own base URL (the smoke run's relay in front of it). Raises NotConfiguredError
    (an agent that cannot be pointed at this server, a state directory that cannot be written)."""
    from .agents import agent_setup, write_files

    chosen = settings.providers[readiness.provider]
    # Only the window read back from the server: never the one asked for, never a stale one.
    setup = agent_setup(agent, provider=readiness.provider, kind=readiness.kind,
                        base_url=base_url or readiness.base_url, model=readiness.model, token=chosen.token,
                        environ=environ, context_length=readiness.context_length,
                        first_turn_s=measured_first_turn(readiness, agent),
                        ca_cert=chosen.ca_cert.value if chosen.ca_cert else None)
    folder = agent_files_dir()
    try:
        return write_files(setup, folder)
    except OSError as exc:
        raise NotConfiguredError(f"Cannot write {setup.agent}'s files in {folder}: {exc.strerror or exc}.",
                                 "Check that lmprep's state directory is writable (it follows XDG_STATE_HOME).") from None
