"""The Python API: `import lmprep`, its `__all__`, the error family, ensure_oss_ready in-process."""

from __future__ import annotations

import inspect
import subprocess
import sys
import threading

import pytest

import lmprep
from lmprep import errors

MODEL = "openai/gpt-oss-20b"


def test_every_name_in_all_is_importable_and_all_has_no_duplicates():
    assert len(set(lmprep.__all__)) == len(lmprep.__all__)
    for name in lmprep.__all__:
        assert getattr(lmprep, name) is not None, name
    namespace: dict = {}
    exec("from lmprep import *", namespace)
    assert set(lmprep.__all__) <= set(namespace)


def test_every_public_error_is_exported():
    public_errors = {
        name for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, errors.LmprepError)
    }
    assert public_errors <= set(lmprep.__all__)
    assert {cls.__name__ for cls in errors.ERRORS_BY_STATE.values()} <= set(lmprep.__all__)


def test_public_functions_and_classes_are_exported():
    assert {"ensure_oss_ready", "Readiness", "status", "StatusReport", "ExitCode", "KINDS"} <= set(lmprep.__all__)
    assert lmprep.status.__module__ == "lmprep.status_report"
    assert callable(lmprep.ensure_oss_ready)
    assert "ensure_oss_ready" in dir(lmprep)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        lmprep.nope  # noqa: B018


def test_errors_inherit_the_matching_builtins():
    assert issubclass(lmprep.UnreachableError, ConnectionError)
    assert issubclass(lmprep.AuthFailedError, PermissionError)
    assert issubclass(lmprep.TimedOutError, TimeoutError)
    assert issubclass(lmprep.ModelMissingError, LookupError)
    error = lmprep.UnreachableError("LM Studio is not responding.", "Start it.")
    assert (error.state, error.exit_code, error.hint) == ("unreachable", 4, "Start it.")
    assert all(issubclass(cls, lmprep.LmprepError) for cls in errors.ERRORS_BY_STATE.values())


def test_ensure_oss_ready_signature_matches_the_contract():
    parameters = inspect.signature(lmprep.ensure_oss_ready).parameters
    assert list(parameters)[:2] == ["provider", "model"]
    for name, default in [("base_url", None), ("warm_up", "background"), ("offline", False),
                          ("config_path", None), ("on_progress", None)]:
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert parameters[name].default == default


def test_import_lmprep_is_lean():
    code = ("import sys, lmprep; heavy = [m for m in ('httpx', 'click', 'platformdirs', 'lmprep.pipeline', "
            "'lmprep.config') if m in sys.modules]; print(heavy)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_core_modules_never_import_click_print_or_exit():
    import ast
    import pathlib

    package = pathlib.Path(lmprep.__file__).parent
    for path in sorted(package.rglob("*.py")):
        if path.name in ("click.py", "__main__.py") or path.parent.name == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                assert not any(alias.name.split(".")[0] == "click" for alias in node.names), path
            elif isinstance(node, ast.ImportFrom):
                assert node.level > 0 or (node.module or "").split(".")[0] != "click", path
            elif isinstance(node, ast.Call):
                called = ast.unparse(node.func)
                assert called not in ("print", "sys.exit", "exit", "quit", "os._exit"), f"{path}: {called}()"


def test_ensure_oss_ready_in_process_with_a_daemon_thread_warm_up(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    events = []
    ready = lmprep.ensure_oss_ready("lmstudio", base_url=lmstudio_emulator.base_url, on_progress=events.append)
    assert isinstance(ready, lmprep.Readiness)
    assert (ready.provider, ready.base_url, ready.model, ready.state, ready.downloaded) == (
        "lmstudio", lmstudio_emulator.base_url, MODEL, "ready", False)
    assert ready.ok and ready.warm_up.mode == "background" and ready.warm_up.status == "started"
    warmers = [t for t in threading.enumerate() if t.name == "lmprep-warm-up"]
    assert all(t.daemon for t in warmers)
    lmstudio_emulator.wait_for_request("POST", "/v1/responses", timeout=15)
    for thread in warmers:
        thread.join(timeout=15)
    assert events and all(type(event).__module__ == "lmprep.events" for event in events)


def test_readiness_is_a_plain_record_with_a_dict_form():
    from lmprep.warmup import WarmUp

    ready = lmprep.Readiness(provider="ollama", model="m", warm_up=WarmUp("wait", "ok", 1.5))
    assert ready.timings_ms == {} and ready.state == "ready" and ready.ok
    assert ready.to_dict() == {
        "provider": "ollama", "provider_source": None, "kind": None, "base_url": None, "base_url_source": None,
        "model": "m", "model_source": None, "state": "ready", "downloaded": False,
        "warm_up": {"mode": "wait", "status": "ok", "seconds": 1.5, "state_file": None}, "context_length": None,
        "agent": None, "cpu_percent": None, "timings_ms": {}, "rtt_ms": None, "passed_over": [], "started": None,
    }
    ready.to_dict()["timings_ms"]["x"] = 1.0  # a copy
    assert ready.timings_ms == {} and lmprep.Readiness().timings_ms is not lmprep.Readiness().timings_ms
    assert ready == lmprep.Readiness(provider="ollama", model="m", warm_up=WarmUp("wait", "ok", 1.5))
    assert ready != lmprep.Readiness(provider="ollama")
    assert repr(lmprep.Readiness(state="unreachable")).startswith("Readiness(provider=None, provider_source=None,")
    with pytest.raises(TypeError):
        lmprep.Readiness(colour="blue")
    with pytest.raises(AttributeError):
        ready.colour = "blue"


def test_ensure_oss_ready_raises_typed_errors(unused_port):
    with pytest.raises(lmprep.UnreachableError) as caught:
        lmprep.ensure_oss_ready("ollama", base_url=f"http://127.0.0.1:{unused_port}/v1", warm_up="off")
    assert isinstance(caught.value, ConnectionError)
    assert caught.value.exit_code == 4 and "ollama serve" in caught.value.hint
    with pytest.raises(lmprep.NotConfiguredError):
        lmprep.ensure_oss_ready("no-such-provider")


def test_ensure_oss_ready_offline_missing_model(ollama_emulator):
    with pytest.raises(lmprep.ModelMissingError) as caught:
        lmprep.ensure_oss_ready("ollama", "llama3", base_url=ollama_emulator.base_url, offline=True)
    assert caught.value.state == "model_missing" and isinstance(caught.value, LookupError)
    assert not ollama_emulator.requests_to("POST", "/api/pull")
