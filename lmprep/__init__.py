"""lmprep: make a local LLM provider ready before something needs it.

    import lmprep

    ready = lmprep.ensure_oss_ready("lmstudio")   # raises an LmprepError subclass when it cannot
    print(ready.base_url, ready.model)
    report = lmprep.status()                      # every provider, GET requests only
    lmprep.stop("llamacpp")                       # the server lmprep started for it, never another

Errors carry ``.state``, ``.exit_code`` and ``.hint``; ``UnreachableError`` is also a
``ConnectionError``, ``AuthFailedError`` a ``PermissionError``, ``TimedOutError`` a
``TimeoutError`` and ``ModelMissingError`` a ``LookupError``.

Everything but the errors is imported on first use, so ``import lmprep`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import (
    AgentUnsupportedError,
    AuthFailedError,
    ContextTooSmallError,
    DownloadFailedError,
    ExitCode,
    InternalError,
    InterruptedByUserError,
    LmprepError,
    ModelMissingError,
    NotConfiguredError,
    NotStartedByLmprepError,
    ProtocolError,
    SmokeFailedError,
    TimedOutError,
    UnreachableError,
    WarmupFailedError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # making a provider ready
    "ensure_oss_ready",
    "Readiness",
    "WarmUp",
    # looking without touching
    "status",
    "StatusReport",
    "ProviderStatus",
    "ModelInfo",
    "WarmUpRecord",
    # running the real agent once: lmprep.smoke.smoke (the module's name is the function's)
    "SmokeResult",
    # stopping the servers lmprep started
    "stop",
    "StoppedServer",
    # provider kinds
    "KINDS",
    "Kind",
    # errors
    "ExitCode",
    "LmprepError",
    "InternalError",
    "NotConfiguredError",
    "UnreachableError",
    "AuthFailedError",
    "ModelMissingError",
    "DownloadFailedError",
    "ProtocolError",
    "WarmupFailedError",
    "TimedOutError",
    "ContextTooSmallError",
    "AgentUnsupportedError",
    "SmokeFailedError",
    "NotStartedByLmprepError",
    "InterruptedByUserError",
]

# name → module that defines it, imported on first access (PEP 562).
_LAZY = {
    "ensure_oss_ready": "pipeline",
    "Readiness": "pipeline",
    "WarmUp": "warmup",
    "status": "status_report",
    "StatusReport": "status_report",
    "ProviderStatus": "status_report",
    "ModelInfo": "status_report",
    "WarmUpRecord": "status_report",
    "SmokeResult": "smoke",
    "stop": "stopping",
    "StoppedServer": "stopping",
    "KINDS": "providers.kinds",
    "Kind": "providers.kinds",
}


def __getattr__(name: str):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'lmprep' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(f"{__name__}.{module_name}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .pipeline import Readiness, ensure_oss_ready
    from .providers.kinds import KINDS, Kind
    from .status_report import ModelInfo, ProviderStatus, StatusReport, WarmUpRecord, status
    from .stopping import StoppedServer, stop
    from .warmup import WarmUp
