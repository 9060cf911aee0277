"""Starting a server that is down: when the provider's base URL is on this machine, nothing
listens there and a start plan exists, lmprep starts the server detached (it outlives lmprep and
holds none of its stdio; its output goes to a log under the state dir), records it (started.py),
and waits until it answers, within the deadline. One lmprep at a time per base URL starts one
(a lock around "does it answer now? then start"); a server that ends before it answers is
reported at once, with the last lines of its log.

Imported only once a server did not answer: the ready path never loads this module.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

from .config import SOURCE_DEFAULT, ProviderSettings, Settings
from .deadline import Deadline
from .errors import LmprepError, TimedOutError, UnreachableError
from .events import Notice, Reporter, Step, WaitEnded, WaitStarted
from .starting import StartPlan, StartRequest
from .started import StartedServer

#: How long a started server may take to answer where no --timeout is given (a big model's load).
START_WAIT_LIMIT = 600.0
#: The most a plan's `before` command (`lms daemon up`) may take.
BEFORE_TIMEOUT = 60.0
#: Between two looks at whether the server answers: a connection attempt to a port on this
#: machine costs microseconds, and llama-server (b11434, a tiny model) listens ~20 ms after its
#: start and answers ~50-100 ms after it.
POLL_INTERVAL = 0.01
#: How long one look may wait for the server's answer once it listens.
PROBE_READ_TIMEOUT = 2.0
#: The lines of a dead server's log its error quotes, and the most of the log read for them.
LOG_LINES = 5
LOG_TAIL_BYTES = 16 * 1024
SOURCE_STARTED = "started (nothing was running)"


#: How long a program that hands its server on (a plan with a `stop`: `lms server start`) may
#: take to exit once the server answers: real `lms` exits right after its first greeting check.
HANDOFF_EXIT_WAIT = 5.0


class Started(NamedTuple):
    """A server this run started, for the ready line and `--json`'s `started`."""

    record: StartedServer
    label: str  # the provider's label (`llama.cpp server`)
    recorded: bool = True  # False: a hand-off whose serving process lmprep could not tell (no pid, no record)

    @property
    def program(self) -> str:
        return os.path.basename(self.record.argv[0]) if self.record.argv else self.label

    def as_dict(self) -> dict:
        return {"command": self.record.command, "pid": self.record.pid if self.recorded else None,
                "log": self.record.log, "seconds": self.record.seconds}


def url_host(base_url: str) -> str:
    """The host of ``base_url`` as written there (`127.0.0.1`, `localhost`, `[::1]`)."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    netloc = parts.netloc.rpartition("@")[2]
    return netloc.rsplit(":", 1)[0] if parts.port else netloc


def added_variables(plan: StartPlan, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``plan`` that lmprep adds or changes for the server (what the user's
    environment has already, at that value, is not lmprep's doing): what its command shows."""
    return {name: value for name, value in plan.env.items() if environ.get(name) != value}


def start_allowed(settings: Settings, chosen: ProviderSettings) -> bool:
    """--no-start wins; then the provider's own `start = `, then the top-level one (default true)."""
    if settings.start.source == "--no-start":
        return False
    own = chosen.start_options.get("start")
    return bool(settings.start.value if own is None else own)


def start_request(chosen: ProviderSettings, settings: Settings, *, which: Callable[[str], str | None] = shutil.which,
                  environ: Mapping[str, str] | None = None) -> StartRequest:
    from urllib.parse import urlsplit

    from .providers import KINDS

    base_url = chosen.base_url.value
    parts = urlsplit(base_url)
    host = url_host(base_url)
    default_port = urlsplit(KINDS[chosen.kind].default_base_url or "").port
    port = parts.port or default_port or (443 if parts.scheme == "https" else 80)
    return StartRequest(
        provider=chosen.name, kind=chosen.kind, base_url=base_url, host=host, port=port,
        window=settings.min_context.value, keep_alive=settings.keep_alive.value,
        options=_options(chosen), environ=os.environ if environ is None else environ, which=which,
    )


def _options(chosen: ProviderSettings) -> Mapping[str, object]:
    """What the plan reads of the provider's config table: the start keys (checked), and LM
    Studio's `lms_path` from the file (LMPREP_LMS, over it, the plan reads from the environment)."""
    options = dict(chosen.start_options)
    if chosen.lms_path is not None and chosen.lms_path.source != "LMPREP_LMS":
        options["lms_path"] = chosen.lms_path.value
    return options


def plan_for(chosen: ProviderSettings, request: StartRequest) -> StartPlan | None:
    """The configured `command` (for any kind: the only way for vLLM and generic servers), else
    what the kind's class says; None where there is nothing to start."""
    command = chosen.start_options.get("command")
    if command:
        program = command[0]
        if os.sep in program or (os.altsep and os.altsep in program):
            from .config import expand_user

            found = str(expand_user(program))
            found = found if os.access(found, os.X_OK) and os.path.isfile(found) else None
        else:
            found = request.which(program)
        if found is None:
            return StartPlan((), hint=f"The `command` under [providers.{chosen.name}] runs {program!r}, which is "
                                      "not an executable file here (nor on PATH): fix its first element.")
        return StartPlan((found, *command[1:]))
    from .providers import provider_class

    return provider_class(chosen.kind).start_plan(request)


def listening(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts connections at ``host``:``port`` (refused: nothing listens)."""
    import socket

    name = host[1:-1] if host.startswith("[") else host
    try:
        with socket.create_connection((name, port), timeout=timeout):
            return True
    except OSError:
        return False


def plan_to_start(chosen: ProviderSettings, settings: Settings, error: UnreachableError, *,
                  which: Callable[[str], str | None] = shutil.which) -> tuple[StartRequest, StartPlan]:
    """What start_if_down would start for ``chosen``, which did not answer (``error``), decided
    without starting anything (`lmprep doctor` asks this): raises ``error`` (with the plan's hint
    where it has one) where lmprep does not start it: a server elsewhere, start turned off, no plan."""
    from .hosts import is_loopback_url

    if chosen.base_url is None or not is_loopback_url(chosen.base_url.value) or not start_allowed(settings, chosen):
        raise error
    request = start_request(chosen, settings, which=which)
    plan = plan_for(chosen, request)
    if plan is None or not plan.argv:
        if plan is not None and plan.hint:
            error.hint = plan.hint
        raise error
    return request, plan


def start_if_down(chosen: ProviderSettings, settings: Settings, error: UnreachableError, report: Reporter,
                  deadline: Deadline, *, which: Callable[[str], str | None] = shutil.which) -> Started | None:
    """Start ``chosen``'s server, which did not answer (``error``), and wait until it answers.
    Returns what was started, or None when something listens there now (another lmprep started
    it meanwhile, or a server that does not answer, which lmprep cannot start again: the caller's
    next probe says which). Raises ``error`` when lmprep does not start it: a server elsewhere,
    start turned off, or no plan (with the plan's hint where it has one). A server that ends before it answers is an
    UnreachableError with its log's last lines; past the deadline, TimedOutError; on Ctrl-C the
    half-started server is stopped and forgotten before the interrupt goes on."""
    request, plan = plan_to_start(chosen, settings, error, which=which)
    from .lock import FileLock, lock_path

    with FileLock(lock_path("start", request.base_url, "", purpose="start")) as lock:
        waited = lock.acquire(
            deadline, f"waiting for another lmprep to start {chosen.label}",
            on_wait=lambda: report(Notice(f"Another lmprep is starting {chosen.label}; waiting for it")),
        )
        # Checked under the lock: another lmprep may have started it since our probe (a server
        # that listens and does not answer is in trouble, and not lmprep's to start: a second
        # one could not listen there; the probe that follows says what is wrong).
        if listening(request.host, request.port):
            if waited:
                report(Step(f"{chosen.label} was started by the other lmprep"))
            return None
        if chosen.kind == "llamacpp":
            _check_fit(plan, request, settings, report, chosen.label)
        return _start(chosen, request, plan, report, deadline)


def _check_fit(plan: StartPlan, request: StartRequest, settings: Settings, report: Reporter, label: str) -> None:
    """Before llama-server is started with `-c`: the memory that load needs against the memory
    free (fit.check_command, from the command's `-m` file and cache types). A required window
    (--for, --min-context) that does not fit is refused before anything starts (exit 11, with
    the ways out), unless --ignore-fit; any other window is started with a warning."""
    from .fit import check_command, does_not_fit, fit_statement, ways_out

    refuse = bool(request.window) and not settings.ignore_fit.value
    fit = check_command(plan.argv, request.window, refuse=refuse, label=label)
    if fit is None:
        return
    if fit.fits:
        report(Step(f"Estimated: {fit_statement(fit)}"))
    else:
        report(Notice(f"{does_not_fit(fit, label, refused=False)} {ways_out('llamacpp', fit, ignore_hint=False)}"))


def _start(chosen: ProviderSettings, request: StartRequest, plan: StartPlan, report: Reporter,
           deadline: Deadline) -> Started:
    from . import started
    from .proc import detached_process, reap, stop

    for before in plan.before:
        _run_before(before, chosen, deadline)
    log = log_path(chosen.name, request.base_url)
    # The plan's values over the environment's: a plan sets only what the user's own values do
    # not decide (Ollama's: an OLLAMA_HOST elsewhere than the base URL would have the server
    # listen where lmprep never looks, and its wait last to the deadline).
    env = {**request.environ, **plan.env}
    added = added_variables(plan, request.environ)
    report(WaitStarted(f"Starting {chosen.label}: {started.command_line(plan.argv, started.shown_variables(added))}"))
    begun = time.monotonic()
    fd = _open_log(log)
    try:
        process = detached_process(plan.argv, output=fd, env=env)
    except OSError as exc:
        raise UnreachableError(
            f"{chosen.label} is not running at {request.base_url}, and lmprep could not start it "
            f"(`{plan.described}`): {exc.strerror or exc}.",
            "Check the program (its path and permissions), or start the server yourself.",
        ) from None
    finally:
        os.close(fd)
    try:
        record = started.remember(chosen.name, chosen.kind, request.base_url, process.pid, plan.argv, str(log),
                                  env=added)
    except OSError:
        record = None  # ended already (the wait says why), or no record can be written: it still runs
    try:
        try:
            _wait_until_answering(process, chosen, request, plan, log, deadline, begun)
            seconds = round(time.monotonic() - begun, 3)
            if plan.stop and process.poll() is None:
                _wait_for_exit(process, deadline)  # within the try: Ctrl-C here undoes the start too
        except TimedOutError as exc:
            if "lmprep stopped it" not in exc.message:
                exc.message += (f" lmprep stopped the {chosen.label} it had started (`{plan.described}`); "
                                f"its log is {_shown_path(log)}.")
            raise
    except BaseException:
        stop(process, deadline=None)  # a half-started server is never left behind
        if plan.stop:
            _run_stop(plan.stop)  # what the program handed the server to (LM Studio's service)
        if record is not None:
            started.forget(record)
        report(WaitEnded(f"{chosen.label} did not start", time.monotonic() - begun, ok=False))
        raise
    if process.poll() == 0:  # it handed the server on, and ended: record the process that serves
        return _handed_off(chosen, request, plan, record, str(log), added, seconds, report)
    reap(process)  # a library caller that lives on keeps no zombie when the server ends
    if record is None:
        record = started.new_record(chosen.name, chosen.kind, request.base_url, process.pid, "", plan.argv,
                                    str(log), env=added, started_at=time.time() - seconds, seconds=seconds)
    else:
        record = record._replace(seconds=seconds)
        try:
            started.save(record)
        except OSError:
            pass  # the server runs and answers: a record that cannot be written does not undo that
    report(WaitEnded(f"Started {chosen.label}", seconds, ok=True))
    return Started(record, chosen.label)


def _wait_for_exit(process, deadline: Deadline) -> None:
    """Give a program that hands its server on (`lms server start`) a moment to exit once the
    server answers: lmprep's look may beat its own check."""
    remaining = deadline.remaining()
    end = time.monotonic() + (HANDOFF_EXIT_WAIT if remaining is None else max(0.0, min(HANDOFF_EXIT_WAIT, remaining)))
    while process.poll() is None and time.monotonic() < end:
        time.sleep(POLL_INTERVAL)


def _handed_off(chosen: ProviderSettings, request: StartRequest, plan: StartPlan, record: StartedServer | None,
                log: str, added: dict, seconds: float, report: Reporter) -> Started:
    """The program exited 0 and the server answers: what serves is another process (LM Studio's
    service, for `lms server start`). Its record names the process that listens on the port, with
    its start time, and the plan's `stop` command, which `lmprep stop` runs instead of a signal;
    where no single process of this user is found listening there, nothing is recorded, and the
    Notice says how to stop it."""
    from . import started
    from .listener import listening_pids

    pids = listening_pids(request.port)
    pid = next(iter(pids)) if pids is not None and len(pids) == 1 else None
    start = started.process_start_time(pid) if pid is not None else None
    begun_at = time.time() - seconds
    if start is not None:
        handed = started.new_record(chosen.name, chosen.kind, request.base_url, pid, start, plan.argv, log,
                                    env=added, stop=plan.stop, port=request.port, started_at=begun_at,
                                    seconds=seconds)
        try:
            handed = started.save(handed)
        except OSError:
            pass  # the server answers: a record that cannot be written does not undo that
        report(WaitEnded(f"Started {chosen.label}", seconds, ok=True))
        return Started(handed, chosen.label)
    if record is not None:
        started.forget(record)  # it names `lms`, which has ended: no process to stop there
    why = ("this machine does not say which process listens on a port (no /proc/net/tcp, no lsof)" if pids is None
           else f"{len(pids)} processes listen on port {request.port}" if pids
           else f"no process of this user holds port {request.port}")
    stop = f"`{StartPlan(plan.stop).described}`" if plan.stop else "its own way to stop it"
    report(WaitEnded(f"Started {chosen.label}", seconds, ok=True))
    report(Notice(f"`{plan.described}` handed {chosen.label} on to another process, and {why}: lmprep keeps no "
                  f"record of it, so `lmprep stop` will not stop it. Stop it with {stop}."))
    unrecorded = started.new_record(chosen.name, chosen.kind, request.base_url, 1, "", plan.argv, log, env=added,
                                    started_at=begun_at, seconds=seconds)
    return Started(unrecorded, chosen.label, recorded=False)


def log_path(provider: str, base_url: str) -> Path:
    from .dirs import record_name, state_dir

    return state_dir() / "logs" / f"{record_name(provider, base_url)}.log"


def _open_log(path: Path) -> int:
    """A new, empty log at ``path`` for the server's stdout and stderr; only a regular file is
    replaced (a FIFO or a link there is refused: NotARegularFile, an OSError)."""
    from .files import check_regular_or_absent

    path.parent.mkdir(parents=True, exist_ok=True)
    check_regular_or_absent(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    return os.open(path, flags, 0o600)


def _run_before(argv: tuple[str, ...], chosen: ProviderSettings, deadline: Deadline) -> None:
    """A command the plan runs to completion first (`lms daemon up`), within BEFORE_TIMEOUT."""
    import shlex

    from .proc import run_captured

    shown = shlex.join([os.path.basename(argv[0]), *argv[1:]])
    try:
        result = run_captured(argv, timeout=BEFORE_TIMEOUT, deadline=deadline, doing=f"running `{shown}`")
    except LmprepError:
        raise
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError
        raise UnreachableError(f"{chosen.label} is not running, and `{shown}`, which starts it, failed: {exc}.",
                               "Run it yourself to see why, or start the server yourself.") from None
    if result.returncode != 0:
        said = _last_lines(result.stderr.decode("utf-8", "replace")) or \
            _last_lines(result.stdout.decode("utf-8", "replace")) or "no output"
        raise UnreachableError(
            f"{chosen.label} is not running, and `{shown}`, which starts it, failed with exit status "
            f"{result.returncode}: {said}",
            "Run it yourself to see why, or start the server yourself.",
        )


def _run_stop(argv: tuple[str, ...]) -> None:
    """The plan's `stop` command, for a start cut short: best effort, briefly (the interrupt goes on)."""
    from .proc import run_captured

    try:
        run_captured(argv, timeout=10.0, deadline=None, doing="stopping the server it had begun to start")
    except (LmprepError, OSError, ValueError):
        pass


def _wait_until_answering(process, chosen: ProviderSettings, request: StartRequest, plan: StartPlan, log: Path,
                          deadline: Deadline, begun: float) -> None:
    """Until the server answers its listing route (llama-server answers 503 while it loads its
    model: not yet), watching that it still runs. A program that ends with exit status 0 once
    the server answers has handed it on, and that is a start (`lms server start` returns once
    LM Studio's service serves; the service keeps running)."""
    from .providers import open_provider

    limit = Deadline(START_WAIT_LIMIT if deadline.remaining() is None else None)
    doing = f"waiting for {chosen.label} to start"
    with open_provider(chosen, connect_timeout=1.0, read_timeout=PROBE_READ_TIMEOUT, deadline=deadline) as provider:
        while True:
            ended = process.poll() is not None
            if ended and process.returncode != 0:
                raise _ended(process.returncode, chosen, request, plan, log)
            if limit.expired:
                raise TimedOutError(
                    f"{chosen.label} did not answer at {request.base_url} within {START_WAIT_LIMIT:g} s of its "
                    f"start (`{plan.described}`); lmprep stopped it.",
                    f"Look at its log, {_shown_path(log)}, or give it longer with --timeout.")
            if listening(request.host, request.port, timeout=deadline.cap(0.5, doing)) and _answers(provider, doing):
                return
            if ended:  # exit status 0 and nothing answers: it handed the server to nothing
                raise _ended(process.returncode, chosen, request, plan, log)
            time.sleep(deadline.cap(POLL_INTERVAL, doing) or POLL_INTERVAL)


def _answers(provider, doing: str) -> bool:
    """Whether the server answers its listing with anything but 503 (loading); a refused or
    dropped connection is not yet."""
    try:
        response = provider.http.request("GET", f"{provider.base_url}/models", doing=doing, retry=False,
                                         read_timeout=PROBE_READ_TIMEOUT)
    except TimedOutError:
        if provider.deadline.expired:
            raise
        return False
    except UnreachableError:
        return False
    except LmprepError:
        return True  # it answers (401, a broken answer): the pipeline's probe says what that means
    return response.status_code != 503


#: What a server's log says when another program holds its port: Ollama (`Error: listen tcp
#: 127.0.0.1:11500: bind: address already in use`, exit 1 within 0.1 s), llama-server b11434
#: (`start: couldn't bind HTTP server socket, hostname: 127.0.0.1, port: 8080`, exit 1 within
#: 0.1 s: it binds before it loads the model), and the errno text every other server prints
#: (Linux's and macOS's EADDRINUSE; Windows' WSAEADDRINUSE).
PORT_TAKEN_SIGNS = ("address already in use", "couldn't bind http server socket",
                    "only one usage of each socket address")


def port_taken(log_text: str) -> bool:
    text = log_text.lower()
    return any(sign in text for sign in PORT_TAKEN_SIGNS)


def _ended(code: int, chosen: ProviderSettings, request: StartRequest, plan: StartPlan, log: Path) -> UnreachableError:
    said = _log_tail(log)
    status = f"signal {-code}" if code < 0 else f"exit status {code}"
    message = (f"lmprep started {chosen.label} (`{plan.described}`), and it ended with {status} before it answered "
               f"at {request.base_url}. Its log ends: {said or '(nothing)'}")
    if port_taken(said):
        # Nothing answered there when lmprep looked (else it would not have started it): the
        # port is held by a socket that does not accept, or one on another address of the port.
        port = request.port
        other = request.base_url.replace(f":{port}", ":OTHER", 1) if f":{port}" in request.base_url else None
        url = f" (`--base-url {other}`, or `base_url` under [providers.{chosen.name}] of the config file)" \
            if other else f" (`base_url` under [providers.{chosen.name}] of the config file)"
        return UnreachableError(
            f"{message}{'' if message.endswith(('.', '!', '?')) else '.'} Another program holds port {port}.",
            f"Find it (`ss -ltnp 'sport = :{port}'`, or `lsof -i :{port}`) and stop it, or give lmprep another port"
            f"{url}; the server's whole log is {_shown_path(log)}.",
        )
    return UnreachableError(
        message,
        f"Fix what it says (a flag this build lacks, a model file that is not there) in "
        f"[providers.{chosen.name}] of the config file, or start it yourself; its whole log is {_shown_path(log)}.",
    )


def _log_tail(log: Path) -> str:
    """The last LOG_LINES lines of the server's log, cleaned (no escapes, no control characters)."""
    from .files import open_regular

    try:
        with open_regular(log) as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            data = handle.read(LOG_TAIL_BYTES)
    except OSError:
        return ""
    return _last_lines(data.decode("utf-8", "replace"))


def _last_lines(text: str) -> str:
    from .redact import redact
    from .termtext import TerminalLines, one_line, strip_spinner

    cleaner = TerminalLines()
    lines = [strip_spinner(line) for line, _ in cleaner.feed(text.encode()) + cleaner.close()]
    return " / ".join(one_line(redact(line), 300) for line in lines[-LOG_LINES:] if line)


def _shown_path(path: Path) -> str:
    """``path`` with the home folder written `~`, as people read it."""
    from .dirs import home_dir

    home = home_dir()
    try:
        return str(Path("~") / path.relative_to(home)) if home is not None else str(path)
    except ValueError:
        return str(path)


# -- nothing chosen and nothing running -------------------------------------------------------

def runnable_plan(settings: Settings, chosen: ProviderSettings | None, *,
                  which: Callable[[str], str | None] = shutil.which) -> StartPlan | None:
    """The plan that would start ``chosen`` here (a base URL on this machine, start allowed, a
    program to run), decided without running anything; None where there is none."""
    from .hosts import is_loopback_url

    if chosen is None or chosen.base_url is None or not is_loopback_url(chosen.base_url.value) \
            or not start_allowed(settings, chosen):
        return None
    try:
        plan = plan_for(chosen, start_request(chosen, settings.for_provider(chosen.name), which=which))
    except LmprepError:
        return None
    return plan if plan is not None and plan.argv else None


def installed_here(settings: Settings, *,
                   which: Callable[[str], str | None] = shutil.which) -> list[tuple[ProviderSettings, StartPlan]]:
    """The servers auto-detection looks for at their default addresses whose program is installed
    here (each with its plan): those `lmprep` alone starts one of when none runs (`lmprep doctor`
    shows each). Nothing is run to say it."""
    if settings.start.value is False:
        return []
    from .providers import AUTO_DETECT_KINDS

    installed = []
    for name in AUTO_DETECT_KINDS:
        chosen = settings.providers.get(name)
        if name in settings.broken or chosen is None or chosen.base_url is None \
                or chosen.base_url.source != SOURCE_DEFAULT:
            continue
        plan = runnable_plan(settings, chosen, which=which)
        if plan is not None:
            installed.append((chosen, plan))
    return installed


def choose_to_start(settings: Settings, error: UnreachableError, *,
                    which: Callable[[str], str | None] = shutil.which) -> ProviderSettings:
    """No provider was chosen and none answers (``error``): the one to start. The first
    [providers.NAME] of the config file on this machine with a start plan, else the one kind
    whose program is installed here (its plan has something to run). Several installed and none
    configured: ``error`` with a hint naming them and how to choose (never two started);
    none, or start turned off: ``error``."""
    if settings.start.value is False:
        raise error
    for name in settings.configured:
        chosen = settings.providers.get(name)
        if name not in settings.broken and runnable_plan(settings, chosen, which=which) is not None:
            return chosen
    installed = installed_here(settings, which=which)
    if len(installed) == 1:
        return installed[0][0]
    if len(installed) > 1:
        from .termtext import listed

        names = listed(f"{chosen.label} (`{plan.described}`)" for chosen, plan in installed)
        choices = listed((f"`-p {chosen.name}`" for chosen, _ in installed), "or")
        error.hint = (f"Several servers are installed here: {names}; lmprep starts one only when it knows which. "
                      f"Choose with {choices}, or for good with `oss_provider = \"NAME\"` in the config file.")
    raise error
