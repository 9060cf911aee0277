"""`lmprep exec`: the model kept loaded while PROGRAM runs, and the server's policy handed back after.

lmprep execs into PROGRAM, so PROGRAM keeps lmprep's pid. Just before that, a detached watcher
starts (no stdio, as the background load's child, and through a go-between that ends at once,
so that it is no child of PROGRAM's): it knows that pid and the start time
the kernel gave it, polls whether that very process still runs (a reused pid is another
process: its start time differs; a zombie has ended), sends the one request each server needs
to keep the model loaded, and once PROGRAM has ended (however: exit, SIGKILL) hands the server
its own policy back, or unloads the model with `--release` when lmprep loaded it, and ends. It
sends nothing after that, and outlives PROGRAM by at most one poll plus one request's budget.

What keeps each server's model loaded:

- Ollama unloads after keep_alive (default 5 minutes, OLLAMA_KEEP_ALIVE) and keeps the last
  keep_alive a request set for the model, also across later requests that send none (an agent's
  /v1 requests; checked with Ollama 0.33): one load request with keep_alive -1 at the start
  holds it, and one with the user's value (--keep-alive/keep_alive, else OLLAMA_KEEP_ALIVE, else
  Ollama's 5 minutes) hands it back, sent only while the model is still loaded (it would load
  it otherwise). A model already kept for ever (/api/ps) is left as it is.
- llama-server's router sleeps a model after --sleep-idle-seconds (read from its /models entry);
  only a completion keeps it awake, not /props or /tokenize: one one-token completion every half
  period. Stopping them is the hand-back.
- LM Studio unloads a model it loaded just in time after its idle TTL (60 minutes by default, or
  the --keep-alive lmprep loaded it with); any request starts the idle time again: one one-token
  request every half TTL.
- vLLM's sleep mode is entered only when asked (POST /sleep): nothing to do, and no watcher.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

#: How often the watcher looks whether PROGRAM still runs, in seconds.
POLL_INTERVAL = 1.0
#: Ollama's own keep_alive when neither the user nor OLLAMA_KEEP_ALIVE sets one.
OLLAMA_DEFAULT_KEEP_ALIVE = 300.0
#: A keep-alive this long is for ever: Ollama's own "for ever" is Go's longest duration (~292
#: years: /api/ps `expires_at` in the year 2319 in 2026), and no one waits 100 years for an unload.
FOR_EVER_AFTER = 100 * 365.25 * 86400
#: LM Studio's idle TTL for a model loaded just in time.
LMSTUDIO_JIT_TTL = 3600.0
#: The kinds whose servers unload idle models by themselves.
KINDS_THAT_UNLOAD = ("ollama", "llamacpp", "lmstudio")


class Program(NamedTuple):
    """A process, told apart from a later one given the same pid by its start time."""

    pid: int
    started: str | None  # /proc/PID/stat field 22 (clock ticks after boot); None: cannot tell


def process_start(pid: int) -> str | None:
    """The start time the kernel gave ``pid`` (Linux /proc), or None where there is none to read."""
    stat = _stat_fields(pid)
    return stat[19] if stat is not None and len(stat) > 19 else None


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3, the state, first)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces and ")".
    return text[text.rfind(")") + 2:].split()


def still_running(program: Program) -> bool:
    """Whether ``program`` is the process that runs under its pid now, and has not ended."""
    if program.started is not None:
        stat = _stat_fields(program.pid)
        # Z: ended, waiting for its parent to read its status; X: being removed.
        return stat is not None and len(stat) > 19 and stat[19] == program.started and stat[0] not in ("Z", "X")
    try:
        os.kill(program.pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process by now, or not ours to signal: assume it runs
    return True


def hand_back_keep_alive(keep_alive: float | None, environ) -> float | None:
    """Seconds to hand Ollama back: the user's keep_alive, else OLLAMA_KEEP_ALIVE as Ollama reads
    it (providers/ollama.keep_alive_variable: Go durations, whole seconds, negative for ever,
    anything else its 5 minutes), else Ollama's 5 minutes; None when that is for ever (then lmprep
    holds nothing and hands nothing back). 0 is Ollama's "unload as soon as idle", which a
    keep_alive of 0 gives back. The variable is read from lmprep's environment: what a server
    started from it (by lmprep, or from this shell) has; a service started elsewhere may differ."""
    from .config import FOREVER
    from .providers.ollama import keep_alive_variable

    if keep_alive is None:
        keep_alive = keep_alive_variable(environ.get("OLLAMA_KEEP_ALIVE"))
    if keep_alive == FOREVER or keep_alive < 0 or keep_alive >= FOR_EVER_AFTER:
        return None
    return keep_alive


def keep_loaded(chosen, model: str, timeouts: dict[str, float], keep_alive: float | None, *,
                loaded_before: bool, release: bool) -> bool:
    """Start the watcher for this process (the PROGRAM lmprep is about to become); False where
    the server keeps its model without help (and no watcher is started)."""
    if chosen.kind not in KINDS_THAT_UNLOAD or sys.platform == "win32":
        return False
    from .warmup import provider_payload, spawn_child

    me = os.getpid()
    payload = {**provider_payload(chosen), "model": model, "timeouts": timeouts, "keep_alive": keep_alive,
               "release": bool(release and not loaded_before), "pid": me, "started": process_start(me),
               "poll": POLL_INTERVAL}
    # Through a go-between, so that the watcher is not PROGRAM's child: PROGRAM never sees a
    # child it did not start (its SIGCHLD, a wait() for any child, a zombie left behind).
    spawn_child("lmprep.session", payload, orphan=True)
    return True


class Hold:
    """What one kind of server needs over a session: a request at the start, one every
    ``period`` seconds (None: none), and the hand-back at the end."""

    period: float | None = None
    hands_back = False  # something to send once PROGRAM has ended
    others = False  # other sessions held the model when this one began

    def __init__(self, provider, model: str, payload: dict) -> None:
        self.provider = provider
        self.model = model
        self.payload = payload
        # The same budget as the foreground's requests (never None: that is no limit at all).
        self.read_timeout = float(payload["timeouts"]["read_timeout"])

    def begin(self) -> None:
        """Called once, as PROGRAM starts."""

    def renew(self) -> None:
        """Called every ``period`` seconds while PROGRAM runs."""

    def hand_back(self) -> None:
        """Called once PROGRAM has ended, unless the model is to be released."""

    def release(self) -> None:
        if self.provider.model_state(self.model).loaded is not False:
            self.provider.unload(self.model)


class OllamaHold(Hold):
    def begin(self) -> None:
        from .config import FOREVER
        from .providers.base import WARM_UP_READ_TIMEOUT

        self.back = hand_back_keep_alive(self.payload.get("keep_alive"), os.environ)
        if self.back is None or (not self.others and self.provider.kept_for_ever(self.model)):
            self.back = None  # kept for ever already, by the user's own choice: nothing to hold or hand back
            return
        self.hands_back = True
        self.provider.refresh_keep_alive(self.model, FOREVER, WARM_UP_READ_TIMEOUT)

    def hand_back(self) -> None:
        if self.hands_back and self.provider.model_state(self.model).loaded:
            self.provider.refresh_keep_alive(self.model, self.back, self.read_timeout)


class LlamaRouterHold(Hold):
    def begin(self) -> None:
        sleeps_after = self.provider.idle_sleep_seconds(self.model)
        self.period = sleeps_after / 2 if sleeps_after else None

    def renew(self) -> None:
        self.provider.keep_awake(self.model, self.read_timeout)


class LMStudioHold(Hold):
    def begin(self) -> None:
        from .config import FOREVER

        ttl = self.payload.get("keep_alive")  # --keep-alive: the ttl lmprep's just-in-time load gave it
        # -1: an explicit load, which LM Studio never unloads by itself.
        self.period = None if ttl == FOREVER else (ttl or LMSTUDIO_JIT_TTL) / 2

    def renew(self) -> None:
        self.provider._openai_warm_up(self.model, self.read_timeout)


HOLDS = {"ollama": OllamaHold, "llamacpp": LlamaRouterHold, "lmstudio": LMStudioHold}


def watch(provider, model: str, payload: dict, program: Program, poll: float, sleep=time.sleep) -> None:
    """The watcher's body: hold the model while ``program`` runs, then hand back or release."""
    from .lock import SharedUse, lock_path

    # Two sessions on one model (two terminals, two agents): the last to end hands back, and
    # a model kept for ever by another session is not taken for the user's own choice.
    sessions = SharedUse(lock_path(payload.get("name", provider.kind), payload.get("base_url", ""), model, "session"))
    hold = HOLDS[provider.kind](provider, model, payload)
    hold.others = sessions.join()
    try:
        _hold(hold, program, poll, sleep)
        if sessions.leave():  # else another session still runs on the model: it hands back when it ends
            _attempt(hold.release if payload.get("release") else hold.hand_back)
    finally:
        sessions.close()


def _hold(hold: Hold, program: Program, poll: float, sleep) -> None:
    """While ``program`` runs: the first request, then one every period."""
    _attempt(hold.begin)
    if hold.period is None and not hold.hands_back and not hold.payload.get("release"):
        return  # nothing to keep up and nothing to send at the end: no need to wait for PROGRAM
    last = time.monotonic()
    while still_running(program):
        sleep(poll)
        if hold.period is not None and time.monotonic() - last >= hold.period and still_running(program):
            last = time.monotonic()
            _attempt(hold.renew)


def _attempt(step) -> None:
    from .errors import LmprepError

    try:
        step()
    except LmprepError:
        pass  # a server that did not answer this time: the next step tries again


def main(argv: list[str] | None = None) -> int:
    """Entry point of the watcher child started by keep_loaded(); its settings arrive on stdin."""
    import json

    from .providers import open_provider
    from .warmup import provider_from_payload

    raw = (argv if argv is not None else sys.argv[1:]) or [sys.stdin.read()]
    payload = json.loads(raw[0])
    model = payload["model"]
    program = Program(int(payload["pid"]), payload.get("started"))
    with open_provider(provider_from_payload(payload, model), **payload["timeouts"]) as provider:
        watch(provider, model, payload, program, float(payload.get("poll") or POLL_INTERVAL))
    return 0
