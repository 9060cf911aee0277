"""Typed errors: every failure carries a state, an exit code and a hint for the user."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    READY = 0
    INTERNAL_ERROR = 1
    USAGE = 2
    NOT_CONFIGURED = 3
    UNREACHABLE = 4
    AUTH_FAILED = 5
    MODEL_MISSING = 6
    DOWNLOAD_FAILED = 7
    PROTOCOL_ERROR = 8
    WARMUP_FAILED = 9
    TIMED_OUT = 10
    CONTEXT_TOO_SMALL = 11
    AGENT_UNSUPPORTED = 12
    SMOKE_FAILED = 14  # `lmprep smoke`: the real agent's run failed (13 is doctor's pairs not checked)
    NOT_STARTED_BY_LMPREP = 15  # `lmprep stop`: a server runs there, but lmprep did not start it
    INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2, as shells report it
    TERMINATED = 143  # SIGTERM: 128 + 15


class LmprepError(Exception):
    """Base of every error lmprep raises on purpose.

    ``message`` says what happened, ``hint`` what to do about it.
    """

    state = "internal_error"
    exit_code = ExitCode.INTERNAL_ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        # One positional argument only: some subclasses also derive from OSError,
        # which would read a second argument as strerror.
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} {self.hint}"

    def __reduce__(self):
        return (type(self), (self.message, self.hint))


class InternalError(LmprepError):
    state = "internal_error"
    exit_code = ExitCode.INTERNAL_ERROR


class NotConfiguredError(LmprepError):
    state = "not_configured"
    exit_code = ExitCode.NOT_CONFIGURED


class UnreachableError(LmprepError, ConnectionError):
    state = "unreachable"
    exit_code = ExitCode.UNREACHABLE


class AuthFailedError(LmprepError, PermissionError):
    state = "auth_failed"
    exit_code = ExitCode.AUTH_FAILED


class ModelMissingError(LmprepError, LookupError):
    state = "model_missing"
    exit_code = ExitCode.MODEL_MISSING


class DownloadFailedError(LmprepError):
    state = "download_failed"
    exit_code = ExitCode.DOWNLOAD_FAILED


class ProtocolError(LmprepError):
    state = "protocol_error"
    exit_code = ExitCode.PROTOCOL_ERROR


class WarmupFailedError(LmprepError):
    state = "warmup_failed"
    exit_code = ExitCode.WARMUP_FAILED


class TimedOutError(LmprepError, TimeoutError):
    state = "timed_out"
    exit_code = ExitCode.TIMED_OUT


class ContextTooSmallError(LmprepError):
    state = "context_too_small"
    exit_code = ExitCode.CONTEXT_TOO_SMALL


class AgentUnsupportedError(LmprepError):
    """The server lacks the route or request shape the agent sends (``--for AGENT``)."""

    state = "agent_unsupported"
    exit_code = ExitCode.AGENT_UNSUPPORTED


class SmokeFailedError(LmprepError):
    """`lmprep smoke --for AGENT`: the real agent, run on a one-line prompt, did not exit 0
    within its time limit, or the server got no chat request for the model that it answered 2xx."""

    state = "smoke_failed"
    exit_code = ExitCode.SMOKE_FAILED


class NotStartedByLmprepError(LmprepError):
    """`lmprep stop`: a server runs at the provider's address, but it is not one lmprep started
    (or no longer the process it started), so lmprep leaves it alone."""

    state = "not_started_by_lmprep"
    exit_code = ExitCode.NOT_STARTED_BY_LMPREP


class InterruptedByUserError(LmprepError):
    """Raised in place of KeyboardInterrupt where a caller wants a typed error; exit 130 for
    Ctrl-C, 143 for SIGTERM (``terminated``)."""

    state = "interrupted"
    exit_code = ExitCode.INTERRUPTED

    @classmethod
    def from_signal(cls, interrupt: BaseException, hint: str | None = None) -> InterruptedByUserError:
        terminated = isinstance(interrupt, Terminated)
        error = cls("Terminated (SIGTERM)." if terminated else "Interrupted.", hint)
        if terminated:
            error.exit_code = ExitCode.TERMINATED
        return error


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (every ``except KeyboardInterrupt`` stops children and
    releases locks for it too); the CLI exits 143 instead of 130."""


ERRORS_BY_STATE: dict[str, type[LmprepError]] = {
    cls.state: cls
    for cls in (
        InternalError,
        NotConfiguredError,
        UnreachableError,
        AuthFailedError,
        ModelMissingError,
        DownloadFailedError,
        ProtocolError,
        WarmupFailedError,
        TimedOutError,
        ContextTooSmallError,
        AgentUnsupportedError,
        SmokeFailedError,
        NotStartedByLmprepError,
        InterruptedByUserError,
    )
}
