"""Quoting for `lmprep env`: what each shell or dotenv reader gets back is exactly the value."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from lmprep.shells import (
    FORMATS,
    failure,
    quote_argv,
    quote_dotenv,
    quote_fish,
    quote_powershell,
    quote_sh,
    render,
)

HOSTILE = [
    "plain",
    "",
    "with spaces  and\ttabs",
    "it's",
    "''",
    'double "quotes"',
    "$HOME ${HOME} $(echo pwned) `echo pwned`",
    "back\\slash\\",
    "new\nline",
    "trailing newline\n",
    "\n",
    "carriage\rreturn",
    "semi; colon && pipe | amp & hash # bang !",
    "glob * ? [a-z] ~",
    "\\'",
    "'\\''",
    "unicode: é ✓ ‘smart’ ‚quotes‛",
    "-e",
    "%PATH% @{a=1} $env:HOME",
    '{"json": ["a", 1, null]}',
]


@pytest.mark.parametrize("value", HOSTILE)
def test_sh_eval_gives_back_the_exact_value(value, tmp_path):
    script = tmp_path / "env.sh"
    script.write_text(render({"LMPREP_TEST_VALUE": value}, "sh"))
    completed = subprocess.run(
        ["sh", "-c", f'eval "$(cat {quote_sh(str(script))})"; printf %s "$LMPREP_TEST_VALUE"'],
        capture_output=True, check=True,
    )
    assert completed.stdout.decode() == value
    assert completed.stderr == b""


def test_sh_eval_of_many_variables_exports_them_to_children(tmp_path):
    variables = {f"LMPREP_V{i}": value for i, value in enumerate(HOSTILE)}
    script = tmp_path / "env.sh"
    script.write_text(render(variables, "sh"))
    dump = "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('LMPREP_V')}))"
    completed = subprocess.run(
        ["sh", "-c", f'eval "$(cat {quote_sh(str(script))})"; exec python -c "$0"', dump],
        capture_output=True, text=True, check=True,
    )
    assert json.loads(completed.stdout) == variables


def test_quote_sh_exact():
    assert quote_sh("a'b") == "'a'\\''b'"
    assert quote_sh("$x") == "'$x'"


def test_quote_fish_exact():
    assert quote_fish("plain") == "'plain'"
    assert quote_fish("it's") == "'it\\'s'"
    assert quote_fish("a\\b") == "'a\\\\b'"
    assert quote_fish("a\nb") == "'a'\\n'b'"
    assert quote_fish("a\rb") == "'a'\\r'b'"
    assert quote_fish("$HOME (echo x) `y`") == "'$HOME (echo x) `y`'"
    # Every assignment stays on one line: `eval (lmprep env --format fish)` splits on lines.
    assert all("\n" not in quote_fish(value) for value in HOSTILE)


def test_quote_powershell_exact():
    assert quote_powershell("it's") == "'it''s'"
    assert quote_powershell("$env:HOME `n") == "'$env:HOME `n'"
    assert quote_powershell("\u2018a\u2019 \u201ab\u201b") == "'\u2018\u2018a\u2019\u2019 \u201a\u201ab\u201b\u201b'"
    assert quote_powershell("a\nb") == "'a\nb'"


def test_quote_dotenv_exact():
    assert quote_dotenv("http://127.0.0.1:1234/v1") == "'http://127.0.0.1:1234/v1'"
    assert quote_dotenv('{"a": "$b"}') == "'{\"a\": \"$b\"}'"
    assert quote_dotenv("it's") == '"it\'s"'
    assert quote_dotenv('a\\b "c"\nd\re') == '"a\\\\b \\"c\\"\\nd\\re"'
    with pytest.raises(ValueError, match="ends in a backslash"):
        quote_dotenv("a\\")


def test_render_every_format_exactly():
    variables = {"A": "x y", "B": "it's"}
    assert render(variables, "sh") == "export A='x y'\nexport B='it'\\''s'\n"
    assert render(variables, "fish") == "set -gx A 'x y';\nset -gx B 'it\\'s';\n"
    assert render(variables, "powershell") == "$env:A = 'x y'\n$env:B = 'it''s'\n"
    assert render(variables, "dotenv") == "A='x y'\nB=\"it's\"\n"
    assert render(variables, "json") == '{\n  "A": "x y",\n  "B": "it\'s"\n}\n'
    assert set(FORMATS) == {"sh", "fish", "powershell", "dotenv", "json"}


@pytest.mark.parametrize("value", HOSTILE)
def test_json_round_trips(value):
    assert json.loads(render({"V": value}, "json")) == {"V": value}


def _dotenv_writable(value: str) -> bool:
    return (not value.endswith("\\") and "${" not in value
            and not ("$" in value and any(ch in value for ch in "'\\\n\r")))


@pytest.mark.parametrize("value", [v for v in HOSTILE + ["x'${AWS_SECRET_ACCESS_KEY}", "${HOME}", "$HOME", "a$$b"]
                                   if _dotenv_writable(v)])
@pytest.mark.parametrize("interpolate", [True, False])
def test_python_dotenv_reads_back_the_exact_value(value, interpolate, tmp_path, monkeypatch):
    """With interpolation on (python-dotenv's default) too: no `${...}` is ever expanded."""
    dotenv = pytest.importorskip("dotenv")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "the-secret")
    path = tmp_path / ".env"
    path.write_bytes(render({"V": value, "W": "after"}, "dotenv").encode())
    assert dotenv.dotenv_values(path, interpolate=interpolate) == {"V": value, "W": "after"}


@pytest.mark.parametrize("value", ["x'${AWS_SECRET_ACCESS_KEY}", "${HOME}", "a\\$b", "$X\n", "it's $5"])
def test_dotenv_refuses_a_dollar_a_reader_would_expand(value):
    with pytest.raises(ValueError, match="^V: a value with (a '\\$'|'\\$\\{')"):
        render({"V": value}, "dotenv")


@pytest.mark.parametrize("value", [v for v in HOSTILE if _dotenv_writable(v)])
def test_dotenv_puts_every_dollar_inside_single_quotes(value):
    """docker compose expands $VAR and ${VAR} unquoted and in double quotes, never in single
    quotes (docs.docker.com, "Interpolation"): a `$` may only appear single-quoted."""
    line = render({"V": value}, "dotenv")
    assert "$" not in line or (line.startswith("V='") and line.endswith("'\n"))


def test_dotenv_refuses_a_value_it_cannot_carry_naming_the_variable():
    with pytest.raises(ValueError, match="^OPENAI_API_KEY: a value that ends in a backslash"):
        render({"OPENAI_API_KEY": "tok\\"}, "dotenv")


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
@pytest.mark.parametrize("how", ["source", "eval"])
def test_fish_gives_back_the_exact_values(how, tmp_path):
    variables = {f"LMPREP_V{i}": value for i, value in enumerate(HOSTILE)}
    script = tmp_path / "env.fish"
    script.write_text(render(variables, "fish"))
    load = f"source {quote_fish(str(script))}" if how == "source" else f"eval (cat {quote_fish(str(script))})"
    dump = "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('LMPREP_V')}))"
    completed = subprocess.run(["fish", "--no-config", "-c", f"{load}; python -c {quote_fish(dump)}"],
                               capture_output=True, text=True, check=True)
    assert json.loads(completed.stdout) == variables


@pytest.mark.skipif(shutil.which("pwsh") is None, reason="PowerShell is not installed")
def test_powershell_gives_back_the_exact_values(tmp_path):
    variables = {f"LMPREP_V{i}": value for i, value in enumerate(HOSTILE) if value}  # '' unsets in pwsh
    script = tmp_path / "env.ps1"
    script.write_text(render(variables, "powershell"), encoding="utf-8")
    dump = "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('LMPREP_V')}))"
    command = f"Get-Content -Raw {quote_powershell(str(script))} | Invoke-Expression; python -c {quote_powershell(dump)}"
    completed = subprocess.run(["pwsh", "-NoProfile", "-Command", command], capture_output=True, text=True, check=True)
    assert json.loads(completed.stdout) == variables


def test_failure_exact():
    why = "lmprep env failed (exit 4): nothing was set; its error is on stderr"
    assert failure("sh", 4) == f"(exit 4)  # {why}\n"
    assert failure("fish", 4) == ("function __lmprep_failed; functions --erase __lmprep_failed; return 4; end; "
                                  f"__lmprep_failed  # {why}\n")
    assert failure("powershell", 4) == f"$global:LASTEXITCODE = 4; throw '{why}'\n"
    assert failure("dotenv", 4) == failure("json", 4) == ""


POSIX_SHELLS = [shell for shell in ("sh", "bash", "zsh") if shutil.which(shell)]


@pytest.mark.parametrize("shell", POSIX_SHELLS)
@pytest.mark.parametrize("how", ['eval "$(cat "$1")"', '. "$1"'])
def test_sh_failure_fails_with_the_code_and_leaves_the_shell_and_its_function_running(shell, how, tmp_path):
    """Evaluated in a function: the agent after `&&` is not started, `$?` is the code, and the
    function (and so an interactive shell) goes on: no `exit`, no `return` from it."""
    script = tmp_path / "env.sh"
    script.write_text(failure("sh", 4))
    code = f'f() {{ {how} && echo STARTED; echo "in-f=$?"; }}; f "$1"; echo "after=$?"'
    completed = subprocess.run([shell, "-c", code, shell, str(script)], capture_output=True, text=True)
    assert completed.stdout == "in-f=4\nafter=0\n", completed


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
@pytest.mark.parametrize("how", ["cat $argv[1] | source", "eval (cat $argv[1])"])
def test_fish_failure_fails_with_the_code_and_leaves_nothing_behind(how, tmp_path):
    script = tmp_path / "env.fish"
    script.write_text(failure("fish", 4))
    code = (f"function f; {how}; and echo STARTED; echo in-f=$status; end; f $argv[1]; echo after=$status; "
            "functions -q __lmprep_failed; and echo LEFT")
    completed = subprocess.run(["fish", "--no-config", "-c", code, str(script)], capture_output=True, text=True)
    assert completed.stdout == "in-f=4\nafter=0\n", completed


@pytest.mark.skipif(shutil.which("pwsh") is None, reason="PowerShell is not installed")
def test_powershell_failure_stops_invoke_expression_and_keeps_the_code(tmp_path):
    script = tmp_path / "env.ps1"
    script.write_text(failure("powershell", 4), encoding="utf-8")
    command = (f"try {{ Get-Content -Raw {quote_powershell(str(script))} | Invoke-Expression; 'STARTED' }} "
               "catch { \"code=$LASTEXITCODE\" }")
    completed = subprocess.run(["pwsh", "-NoProfile", "-Command", command], capture_output=True, text=True)
    assert completed.stdout == "code=4\n", completed


def test_bad_names_and_formats_are_refused():
    with pytest.raises(ValueError, match="not a variable name"):
        render({"A B": "x"}, "sh")
    with pytest.raises(ValueError, match="unknown format"):
        render({"A": "x"}, "csh")


def test_quote_argv_is_copyable_and_shows_control_characters():
    assert quote_argv(["--oss", "-m", "openai/gpt-oss-20b"]) == "--oss -m openai/gpt-oss-20b"
    assert quote_argv(["-m", "a b"]) == "-m 'a b'"
    assert quote_argv(["-m", "a\nb"]) == "-m 'a\\nb'"
