"""The start plans of LM Studio, Ollama, Lemonade and Docker Model Runner: what lmprep would run
(argv, environment, hint) for a server that is down, from the request alone (no process, no
network). The facts behind each plan are cited in the provider modules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lmprep.config import FOREVER
from lmprep.providers.dmr import DockerModelRunner
from lmprep.providers.lemonade import Lemonade
from lmprep.providers.lmstudio import LMStudio
from lmprep.providers.ollama import Ollama, go_duration
from lmprep.providers.openai_compat import VLLM
from lmprep.starting import StartPlan, StartRequest


def which_from(found: dict[str, str]):
    return lambda name: found.get(name)


def request(kind: str, *, host: str = "127.0.0.1", port: int = 1234, base_url: str | None = None,
            window: int | None = None, keep_alive: float | None = None, options=None, environ=None,
            found: dict[str, str] | None = None) -> StartRequest:
    path = {"lemonade": "/api/v1", "dmr": "/engines/v1"}.get(kind, "/v1")
    return StartRequest(kind, kind, base_url or f"http://{host}:{port}{path}", host, port, window, keep_alive,
                        options or {}, environ or {}, which_from(found or {}))


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


# -- LM Studio ---------------------------------------------------------------------------------

LMS = "/opt/lm/bin/lms"


@pytest.mark.parametrize("host, port, argv_tail", [
    ("127.0.0.1", 1234, ("--port", "1234")),
    ("localhost", 1234, ("--port", "1234")),  # lms binds 127.0.0.1 by default: no --bind
    ("LOCALHOST", 4321, ("--port", "4321")),
    ("127.0.0.2", 1235, ("--port", "1235", "--bind", "127.0.0.2")),
])
def test_lmstudio_plan_is_server_start_on_the_port(host, port, argv_tail):
    plan = LMStudio.start_plan(request("lmstudio", host=host, port=port, found={"lms": LMS}))
    assert plan == StartPlan((LMS, "server", "start", *argv_tail), stop=(LMS, "server", "stop"))
    assert plan.before == ()  # `lms server start` starts LM Studio's service itself, in every version
    assert plan.described == "lms server start " + " ".join(argv_tail)


def test_lmstudio_plan_sets_no_window_or_keep_alive():
    """LM Studio takes the window and TTL per load (REST or `lms load`), not at server start."""
    plan = LMStudio.start_plan(request("lmstudio", window=65536, keep_alive=600, found={"lms": LMS}))
    assert plan.env == {} and "-c" not in plan.argv


def test_lmstudio_plan_on_ipv6_loopback_is_a_hint():
    plan = LMStudio.start_plan(request("lmstudio", host="[::1]", found={"lms": LMS}))
    assert plan.argv == () and "127.0.0.1:1234" in plan.hint and "IPv4" in plan.hint


def test_lmstudio_without_lms_has_no_plan(tmp_path):
    assert LMStudio.start_plan(request("lmstudio", environ={"HOME": str(tmp_path)})) is None


def test_lmstudio_finds_lms_in_its_home_folder(tmp_path):
    lms = executable(tmp_path / ".lmstudio" / "bin" / "lms")
    plan = LMStudio.start_plan(request("lmstudio", environ={"HOME": str(tmp_path)}))
    assert plan.argv[0] == str(lms)


def test_lmstudio_home_pointer_is_followed(tmp_path):
    lms = executable(tmp_path / "elsewhere" / "bin" / "lms")
    (tmp_path / ".lmstudio-home-pointer").write_text(str(tmp_path / "elsewhere"))
    plan = LMStudio.start_plan(request("lmstudio", environ={"HOME": str(tmp_path)}))
    assert plan.argv[0] == str(lms)


def test_lmstudio_configured_lms_comes_before_path(tmp_path):
    lms = executable(tmp_path / "mine" / "lms")
    by_file = LMStudio.start_plan(request("lmstudio", options={"lms_path": str(lms)}, found={"lms": LMS}))
    assert by_file.argv[0] == str(lms)
    other = executable(tmp_path / "other" / "lms")
    by_env = LMStudio.start_plan(request("lmstudio", options={"lms_path": str(lms)},
                                         environ={"LMPREP_LMS": str(other)}, found={"lms": LMS}))
    assert by_env.argv[0] == str(other)  # LMPREP_LMS before the config file, as for downloads


def test_lmstudio_configured_lms_that_is_not_one_is_said(tmp_path):
    plan = LMStudio.start_plan(request("lmstudio", environ={"LMPREP_LMS": str(tmp_path / "nope")},
                                       found={"lms": LMS}))
    assert plan.argv == () and "LMPREP_LMS" in plan.hint and "not an executable file" in plan.hint


def test_lmstudio_https_base_url_has_no_plan():
    assert LMStudio.start_plan(request("lmstudio", base_url="https://localhost:1234/v1", found={"lms": LMS})) is None


# -- Ollama ----------------------------------------------------------------------------------

OLLAMA = "/usr/bin/ollama"


@pytest.mark.parametrize("host, port, ollama_host", [
    ("127.0.0.1", 11434, "127.0.0.1:11434"),
    ("localhost", 11500, "localhost:11500"),
    ("[::1]", 11434, "[::1]:11434"),
    ("::1", 11434, "[::1]:11434"),  # bracketed for Go's SplitHostPort however the host came
])
def test_ollama_plan_serves_where_the_base_url_points(host, port, ollama_host):
    plan = Ollama.start_plan(request("ollama", host=host, port=port, found={"ollama": OLLAMA}))
    assert plan.argv == (OLLAMA, "serve")
    assert plan.env == {"OLLAMA_HOST": ollama_host}
    assert plan.described == "ollama serve"


@pytest.mark.parametrize("window, keep_alive, expected", [
    (65536, None, {"OLLAMA_CONTEXT_LENGTH": "65536"}),
    (None, 1800.0, {"OLLAMA_KEEP_ALIVE": "1800s"}),
    (32768, FOREVER, {"OLLAMA_CONTEXT_LENGTH": "32768", "OLLAMA_KEEP_ALIVE": "-1"}),
    (None, 1.5, {"OLLAMA_KEEP_ALIVE": "1500ms"}),
    (None, None, {}),
])
def test_ollama_plan_gives_the_agents_window_and_keep_alive(window, keep_alive, expected):
    plan = Ollama.start_plan(request("ollama", port=11434, window=window, keep_alive=keep_alive,
                                     found={"ollama": OLLAMA}))
    assert plan.env == {"OLLAMA_HOST": "127.0.0.1:11434", **expected}


@pytest.mark.parametrize("name, value", [
    ("OLLAMA_CONTEXT_LENGTH", "8192"), ("OLLAMA_KEEP_ALIVE", "10m"), ("OLLAMA_KEEP_ALIVE", "'-1'"),
])
def test_ollama_users_own_values_win(name, value):
    plan = Ollama.start_plan(request("ollama", port=11434, window=65536, keep_alive=600, environ={name: value},
                                     found={"ollama": OLLAMA}))
    assert name not in plan.env
    assert len(plan.env) == 2  # OLLAMA_HOST and the other one


@pytest.mark.parametrize("blank", ["", "  ", '""'])
def test_ollama_blank_user_value_is_unset(blank):
    """Ollama's Var trims spaces and quotes: a blank value is no value, so lmprep's is given."""
    plan = Ollama.start_plan(request("ollama", port=11434, window=65536, environ={"OLLAMA_CONTEXT_LENGTH": blank},
                                     found={"ollama": OLLAMA}))
    assert plan.env["OLLAMA_CONTEXT_LENGTH"] == "65536"


@pytest.mark.parametrize("users, host, kept", [
    ("0.0.0.0:11434", "127.0.0.1", True),  # shared on the network: it stays so
    ("0.0.0.0", "localhost", True),  # no port: 11434
    ("http://127.0.0.1:11434", "127.0.0.1", True),
    ("localhost:11434", "localhost", True),
    ("0.0.0.0:11500", "127.0.0.1", False),  # another port than lmprep looks at
    ("10.0.0.5:11434", "127.0.0.1", False),
    ("https://127.0.0.1:11434", "127.0.0.1", False),
    ("not a host:x", "127.0.0.1", False),
])
def test_ollama_users_own_host_wins_where_it_serves_the_base_url(users, host, kept):
    plan = Ollama.start_plan(request("ollama", host=host, port=11434, environ={"OLLAMA_HOST": users},
                                     found={"ollama": OLLAMA}))
    assert ("OLLAMA_HOST" not in plan.env) is kept


def test_ollama_without_ollama_has_no_plan():
    assert Ollama.start_plan(request("ollama", port=11434)) is None


def test_ollama_https_base_url_has_no_plan():
    assert Ollama.start_plan(request("ollama", base_url="https://localhost:11434/v1", port=11434,
                                     found={"ollama": OLLAMA})) is None


@pytest.mark.parametrize("seconds, text", [
    (300.0, "300s"), (FOREVER, "-1"), (0.25, "250ms"), (1e6, "1000000s"), (0.0001, "1ms"), (90.5, "90500ms"),
])
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text


# -- Lemonade --------------------------------------------------------------------------------

@pytest.mark.parametrize("host, port, where", [
    ("localhost", 13305, ("--port", "13305", "--host", "localhost")),
    ("127.0.0.1", 8000, ("--port", "8000", "--host", "127.0.0.1")),
    ("[::1]", 13305, ("--port", "13305", "--host", "::1")),
])
def test_lemonade_plan_runs_lemond_first(host, port, where):
    found = {"lemond": "/usr/bin/lemond", "lemonade-server": "/usr/bin/lemonade-server"}
    plan = Lemonade.start_plan(request("lemonade", host=host, port=port, found=found))
    assert plan == StartPlan(("/usr/bin/lemond", *where))


@pytest.mark.parametrize("platform, tray", [("linux", ()), ("darwin", ("--no-tray",)), ("win32", ("--no-tray",))])
def test_lemonade_plan_serves_with_lemonade_server(monkeypatch, platform, tray):
    monkeypatch.setattr(sys, "platform", platform)
    plan = Lemonade.start_plan(request("lemonade", host="localhost", port=13305,
                                       found={"lemonade-server": "/opt/l/lemonade-server"}))
    assert plan.argv == ("/opt/l/lemonade-server", "serve", "--port", "13305", "--host", "localhost", *tray)
    assert plan.env == {}


def test_lemonade_without_its_server_has_no_plan():
    # `lemonade` is the client CLI: it serves nothing.
    assert Lemonade.start_plan(request("lemonade", port=13305, found={"lemonade": "/usr/bin/lemonade"})) is None


# -- Docker Model Runner ---------------------------------------------------------------------

def test_dmr_plan_is_a_hint_naming_install_runner():
    plan = DockerModelRunner.start_plan(request("dmr", port=12434, found={"docker": "/usr/bin/docker"}))
    assert plan.argv == () and plan.described == ""
    assert "`docker model install-runner`" in plan.hint
    assert "`docker desktop enable model-runner --tcp 12434`" in plan.hint


def test_dmr_hint_on_another_port_names_it():
    plan = DockerModelRunner.start_plan(request("dmr", port=12500, found={"docker": "/usr/bin/docker"}))
    assert "`docker model install-runner --port 12500`" in plan.hint and "--tcp 12500" in plan.hint


def test_dmr_hint_without_docker_says_install_it():
    plan = DockerModelRunner.start_plan(request("dmr", port=12434))
    assert plan.argv == () and plan.hint.startswith("Install Docker")


# -- what the plans share --------------------------------------------------------------------

@pytest.mark.parametrize("cls, kind, found", [
    (LMStudio, "lmstudio", {"lms": LMS}), (Ollama, "ollama", {"ollama": OLLAMA}),
    (Lemonade, "lemonade", {"lemond": "/usr/bin/lemond"}), (DockerModelRunner, "dmr", {"docker": "/usr/bin/docker"}),
])
def test_plans_run_nothing_and_ask_only_which(cls, kind, found, monkeypatch):
    """Pure: no process, no network; programs are found through request.which only."""
    import socket
    import subprocess

    def refuse(*args, **kwargs):
        raise AssertionError("a start plan ran something")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(socket, "socket", refuse)
    asked = []
    plan = cls.start_plan(request(kind, found=found)._replace(
        which=lambda name: asked.append(name) or found.get(name)))
    assert isinstance(plan, StartPlan) and asked
    assert all(isinstance(part, str) for part in plan.argv)


def test_vllm_unreachable_hint_names_the_command_key():
    from lmprep.config import ProviderSettings, Sourced

    settings = ProviderSettings("gpu", "vllm", Sourced("http://localhost:8000/v1", "default"), None, None, None, None,
                                None)
    with VLLM(settings) as vllm:
        hint = vllm.unreachable_hint()
    assert '`command = ["vllm", "serve", "MODEL"]` under [providers.gpu]' in hint
