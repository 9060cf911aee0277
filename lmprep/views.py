"""Text and JSON views of `lmprep status` and `lmprep config show` (pure: strings in, strings out)."""

from __future__ import annotations

import time

from .termtext import columns_of, printable

CONFIG_SCHEMA_VERSION = 1
#: How much of a failed warm-up's reason the table shows (the lines below it show all of it).
WARM_UP_REASON_WIDTH = 60
_GREEN, _RED, _RESET = "\x1b[32m", "\x1b[31m", "\x1b[0m"


# -- status ---------------------------------------------------------------------------------

def render_status(report, *, colour: bool = False, now: float | None = None) -> str:
    """The providers as a table (``*`` marks the one that decides), then each running
    provider's models and problems, then the verdict."""
    now = time.time() if now is None else now
    headers = ["", "PROVIDER", "STATE", "RTT", "BASE URL", "FROM", "MODEL", "PRESENT", "LOADED", "LAST WARM-UP"]
    rows = [
        [
            printable(cell) for cell in (
                "*" if row.name == report.chosen else "",
                row.name,
                row.state,
                describe_rtt(row.rtt_ms),
                row.base_url or "-",
                row.base_url_source or "-",
                row.model or "-",
                _yes_no(row.model_present),
                _yes_no(row.model_loaded),
                describe_warm_up(row.last_warm_up, now),
            )
        ]
        for row in report.providers
    ]
    widths = [max(len(line[i]) for line in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str], paint: bool) -> str:
        parts = []
        for i, cell in enumerate(cells):
            text = cell.ljust(widths[i])
            if paint and colour and i == 2 and cell not in ("unreachable", "not_configured"):
                text = (_GREEN if cell == "ready" else _RED) + text + _RESET
            parts.append(text)
        return " ".join(parts).rstrip()

    lines = [line(headers, False)] + [line(cells, True) for cells in rows]
    details = []
    for row in report.providers:
        if row.models is not None:
            details.append(f"{row.name} models: {', '.join(describe_model(m) for m in row.models) or 'none'}")
        if row.running and row.error is not None:
            details.append(f"{row.name}: {row.error.message}")
        if row.last_bench:
            from .bench import summary

            figures = summary(row.last_bench)
            if figures:
                measured = row.last_bench.get("measured_at") or now
                details.append(f"{row.name}: {row.model} measured by `lmprep bench` {ago(now - measured)}: {figures}")
        if row.started is not None:
            record = row.started
            details.append(f"{row.name}: started by lmprep {ago(now - record.started_at)} (pid {record.pid}, "
                           f"`{record.command}`), log {record.log or '-'}; `lmprep stop -p {row.name}` stops it")
        warm_up = row.last_warm_up
        if warm_up is not None and warm_up.status == "error" and warm_up.error and row.state != "warmup_failed":
            details.append(f"{row.name}: the last warm-up of {warm_up.model or 'the model'} failed: {warm_up.error}")
    if details:
        lines += ["", *map(printable, details)]  # model ids and messages from servers
    if report.chosen:
        lines += ["", f"Chosen: {report.chosen} ({report.chosen_source}): {report.state}"]
    return "\n".join(lines)


def describe_rtt(rtt_ms: float | None) -> str:
    """The round trip of a provider's first request (its connection included): how far away it is."""
    if rtt_ms is None:
        return "-"
    return "<1 ms" if rtt_ms < 1 else f"{rtt_ms:.0f} ms"


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def describe_model(model) -> str:
    facts = (["loaded"] if model.loaded else []) + ([f"context {model.context_length}"] if model.context_length else []) \
        + ([f"{model.cpu_percent}% on the CPU"] if model.cpu_percent else [])
    return f"{model.id} ({', '.join(facts)})" if facts else model.id


def describe_warm_up(record, now: float) -> str:
    if record is None:
        return "-"
    text = record.status
    if record.seconds is not None:
        text += f" in {record.seconds:.1f} s"
    when = record.finished_at or record.started_at
    if when is not None:
        text += f", {ago(now - when)}"
    if record.model:
        text += f" ({record.model})"
    if record.status == "error" and record.error:
        text += f": {_shortened(record.error, WARM_UP_REASON_WIDTH)}"
    return text


def _shortened(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


# -- config show ----------------------------------------------------------------------------

def _sourced(value) -> dict | None:
    if value is None:
        return None
    inner = value.value
    return {"value": inner if inner is None or isinstance(inner, (str, bool, int, float)) else str(inner),
            "source": value.source}


def settings_dict(settings) -> dict:
    """`lmprep config show --json`: every value with its source; a token only as set or not."""
    return {
        "schema": CONFIG_SCHEMA_VERSION,
        "ok": True,
        "config_path": {**_sourced(settings.config_path), "exists": settings.config_path.value.exists(),
                        "loaded": settings.config_loaded},
        "oss_provider": _sourced(settings.provider),
        "warm_up": _sourced(settings.warm_up),
        "offline": _sourced(settings.offline),
        "connect_timeout": _sourced(settings.connect_timeout),
        "read_timeout": _sourced(settings.read_timeout),
        "timeout": _sourced(settings.timeout),
        "stall_timeout": _sourced(settings.stall_timeout),
        "min_context": _sourced(settings.min_context),
        "keep_alive": _sourced(settings.keep_alive),
        "ignore_fit": _sourced(settings.ignore_fit),
        "start": _sourced(settings.start),
        "agent": _sourced(settings.agent),
        "providers": {
            name: {
                "kind": entry.kind,
                "base_url": _sourced(entry.base_url),
                "model": _sourced(entry.model),
                "api_key_env": _sourced(entry.api_key_env),
                "token_set": entry.token is not None,
                "lms_path": _sourced(entry.lms_path),
                "for": _sourced(settings.provider_agents.get(name)),
                # How lmprep starts it when it is down (config keys only; each from the config file).
                **({"start_options": {key: list(value) if isinstance(value, tuple) else value
                                      for key, value in entry.start_options.items()}}
                   if entry.start_options else {}),
            }
            for name, entry in settings.providers.items()
        },
        "warnings": list(settings.warnings),
    }


def _show(value, empty: str = "not set") -> str:
    if value is None:
        return f"({empty})"
    inner = value.value
    if inner is None:
        text = "none"
    elif isinstance(inner, bool):
        text = str(inner).lower()
    elif isinstance(inner, float):
        text = f"{inner:g}"
    else:
        text = str(inner)
    return f"{text} ({value.source})"


def _show_keep_alive(value) -> str:
    from .config import FOREVER

    if value.value is None:
        return f"the server's own ({value.source})"
    return f"{'for ever' if value.value == FOREVER else f'{value.value:g} s'} ({value.source})"


def render_settings(settings) -> str:
    """`lmprep config show`: each setting, its value and where it came from; tokens hidden."""
    import shlex

    path = settings.config_path
    found = "loaded" if settings.config_loaded else "not found"
    auto = ", ".join(c.name for c in settings.auto_detect_candidates())
    lines = [
        f"config file      {path.value} ({path.source}; {found})",
        f"oss_provider     {_show(settings.provider, f'not set: auto-detect among {auto}')}",
        f"warm_up          {_show(settings.warm_up)}",
        f"offline          {_show(settings.offline)}",
        f"connect_timeout  {_show(settings.connect_timeout)}",
        f"read_timeout     {_show(settings.read_timeout)}",
        f"timeout          {_show(settings.timeout)}",
        f"stall_timeout    {_show(settings.stall_timeout)}",
        f"min_context      {_show(settings.min_context)}",
        f"keep_alive       {_show_keep_alive(settings.keep_alive)}",
        f"ignore_fit       {_show(settings.ignore_fit)}",
        f"start            {_show(settings.start)}",
    ]
    if settings.agent is not None:
        lines.append(f"for              {_show(settings.agent)}")
    for name, entry in settings.providers.items():
        lines += ["", f"[providers.{name}]  {entry.label}"]
        lines.append(f"  base_url       {_show(entry.base_url)}")
        lines.append(f"  model          {_show(entry.model)}")
        if entry.api_key_env is not None:
            token = "token set (value hidden)" if entry.token else "no token set"
            lines.append(f"  api_key_env    {_show(entry.api_key_env)}: {token}")
        if name in settings.provider_agents:
            lines.append(f"  for            {_show(settings.provider_agents[name])}")
        for key, value in entry.start_options.items():
            shown = shlex.join(value) if isinstance(value, tuple) else str(value).lower() \
                if isinstance(value, bool) else value
            lines.append(f"  {key:<14} {shown} (config)")
        if entry.kind == "lmstudio":
            lines.append(f"  lms_path       {_show(entry.lms_path, 'not set: PATH, then the LM Studio home')}")
    return "\n".join(lines)


def render_bench(result, agent_label: str) -> str:
    """`lmprep bench`'s report: what was measured, then what it means for the agent."""
    first, second = result.first, result.second

    def seconds(value):
        return "unknown" if value is None else f"{value:.2f} s"

    def rate(value):
        return "unknown" if not value else f"{value:,.0f} tok/s"

    reused = result.reused_share
    rows = [
        ("load", "already loaded" if result.load_s is None else f"{result.load_s:.1f} s"),
        ("first request", f"{first.prompt_tokens or result.agent_tokens:,} prompt tokens, first token after "
                          f"{seconds(first.first_token_s)}"),
        ("prefill", f"{rate(result.prefill_tps)} ({'the server' if first.source == 'server' else 'timed here'})"),
        ("decode", f"{rate(result.decode_tps)} over {first.output_tokens or 0} tokens"),
        ("next turn", f"first token after {seconds(second.first_token_s)}; "
                      + ("the server did not say what it reused" if reused is None
                         else f"{second.cached_tokens:,} prompt tokens reused ({reused:.0%})")),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    lines.append("")
    lines.append(f"{agent_label} on {result.model}: its first request is about {result.agent_tokens:,} tokens; "
                 f"first turn ≈ {seconds(result.first_turn_s)} to its first token, next turn ≈ "
                 f"{seconds(result.next_turn_s)}" + (f", then {result.decode_tps:,.0f} tokens a second."
                                                     if result.decode_tps else "."))
    return "\n".join(printable(line) for line in lines)


# -- doctor ---------------------------------------------------------------------------------

def render_doctor(report, *, colour: bool = False, width: int | None = None) -> str:
    """`lmprep doctor`: the facts (servers, memory, agents), the matrix of servers by agents,
    then each pair that is not ready with its reason and fix (pairs of one server that fail
    alike share one entry). A matrix wider than ``width`` columns (the terminal's) is shown one
    block per server instead, an agent a line: 13 agents side by side take up to ~250 columns."""
    from .fit import gb

    lines = ["Servers:"]
    pad = max([len(server.name) for server in report.servers] + [len(a.name) for a in report.agents] + [1])
    for server in report.servers:
        row = server.status
        version = f" {server.version}" if server.version else ""
        if not row.running:
            said = row.state
        elif server.loaded:
            said = "loaded: " + ", ".join(_loaded_model(model) for model in server.loaded)
        elif row.models is not None and any(model.loaded is None for model in row.models):
            said = f"{_models(len(row.models))}; which are loaded it does not say"
        else:
            said = f"{_models(len(row.models or ()))}, none loaded"
        lines.append(f"  {row.name.ljust(pad)}  {row.label}{version} at {row.base_url or '-'}: {said}")
    if not report.servers:
        lines.append("  none")
    memory = report.memory
    if memory is not None:
        total = f" of {gb(memory.total)}" if memory.total else ""
        lines.append(f"Free memory for models on this machine: {gb(memory.free)}{total} {memory.where}")
    lines.append("Agents:")
    for agent in report.agents:
        if agent.installed:
            version = agent.version or f"version unknown ({agent.version_error})"
            if agent.tested is False:
                tested = f" (lmprep is tested with {agent.tested_version})"
            elif agent.tested:
                tested = " (the version lmprep is tested with)"
            else:
                tested = ""
            lines.append(f"  {agent.name.ljust(pad)}  {version}{tested}")
        else:
            fix = f"install {agent.label} with `{agent.install}`" if agent.install else "no command of its own"
            lines.append(f"  {agent.name.ljust(pad)}  not installed: {fix}")
    if report.cells:
        headers = ["", *report.columns]
        rows = [[server.name, *(_cell_word(report.cell(server.name, agent)) for agent in report.columns)]
                for server in report.servers]
        widths = [max(columns_of(printable(line[i])) for line in [headers, *rows]) for i in range(len(headers))]

        def painted(text: str, padded: str) -> str:
            if not colour or text.startswith("needs") or text == "-":  # not checked: no verdict to paint
                return padded
            return (_GREEN if text in ("ready", "passed") else _RED) + padded + _RESET

        def line(cells: list[str], paint: bool) -> str:
            parts = []
            for i, text in enumerate(cells):
                padded = text + " " * (widths[i] - columns_of(printable(text)))
                parts.append(painted(text, padded) if paint and i > 0 else padded)
            return "  ".join(parts).rstrip()

        if width is None or sum(widths) + 2 * (len(widths) - 1) <= width:
            lines += ["", line(headers, False), *(line(cells, True) for cells in rows)]
        else:  # too wide for the terminal: a block per server, its agents one a line
            name_width = max(len(agent) for agent in report.columns)
            for cells in rows:
                lines += ["", f"{cells[0]}:"]
                lines += [f"  {agent.ljust(name_width)}  {painted(text, text)}"
                          for agent, text in zip(report.columns, cells[1:])]
        lines += _doctor_reasons(report)
    return "\n".join(printable(text) for text in lines)


def _models(count: int) -> str:
    return "1 model" if count == 1 else f"{count} models"


def _loaded_model(model) -> str:
    facts = ([f"context {model.context_length}"] if model.context_length else []) \
        + ([f"{model.cpu_percent}% on the CPU"] if model.cpu_percent else [])
    return f"{model.id} ({', '.join(facts)})" if facts else model.id


def _cell_word(cell) -> str:
    if cell is None:
        return "-"
    if cell.smoke is not None and cell.state == "agent_unsupported":  # lmprep's verdict, then the agent's
        return f"{cell.state}, {smoke_word(cell.smoke)}"
    if cell.smoke is not None:
        return smoke_word(cell.smoke)
    return _cell_word_of(cell.state)


def smoke_word(result) -> str:
    """A smoke run in a few words, for a matrix cell: `passed`, or `failed` with the server's status
    for the first chat request it did not answer with 2xx, else how the agent ended."""
    if result.passed:
        return "passed"
    failed = next((sent for sent in result.chat_requests if not sent.ok), None)
    if failed is not None:
        return f"failed: {failed.status or 'no answer'}"
    if result.timed_out:
        return "failed: timed out"
    if not result.started:
        return "failed: not run"
    if result.returncode not in (0, None):
        return f"failed: exit {result.returncode}"
    return "failed: no request" if not result.chat_requests else "failed"


def describe_requests(result, shown: int = 8) -> str:
    """What the server received in a smoke run: each distinct (method, route, model, status,
    reason) once, with how often, in order; the first ``shown`` of them."""
    groups: dict[tuple, int] = {}
    for sent in result.requests:
        key = (sent.method, sent.path, sent.model, sent.status, sent.error)
        groups[key] = groups.get(key, 0) + 1
    parts = []
    for (method, path, model, status, reason), count in list(groups.items())[:shown]:
        text = f"{method} {path}" + (f" (model {model})" if model else "") + f" → {status or 'no answer'}"
        if reason:
            text += f" ({reason})"
        parts.append(text + (f" ×{count}" if count > 1 else ""))
    hidden = len(result.requests) + result.requests_dropped - sum(list(groups.values())[:shown])
    if hidden > 0:
        parts.append(f"and {hidden} more")
    return "; ".join(parts)


def _doctor_reasons(report) -> list[str]:
    """Below the matrix: why each pair is not ready and what to do. The pairs of one server with
    the same state and fix share one entry (a fix that names the agent's own `--for` counts as
    the same), their reasons one line each, or one line where they are the same words."""
    lines: list[str] = []
    for server in report.servers:
        groups: dict[tuple, list] = {}
        for agent in report.columns:
            cell = report.cell(server.name, agent)
            if cell is not None and cell.smoke is not None and not cell.smoke.passed:
                lines += _smoke_failure(cell)
                continue
            if cell is not None and not cell.ok:
                hint = (cell.hint or "").replace(f"--for {agent} ", "--for AGENT ")
                groups.setdefault((cell.state, hint), []).append(cell)
        for (state, hint), cells in groups.items():
            agents = ", ".join(cell.agent for cell in cells)
            if len({cell.message for cell in cells}) == 1:
                lines += ["", f"{server.name} for {agents}: {_cell_word_of(state)}: {cells[0].message}"]
            else:
                lines += ["", f"{server.name} for {agents}: {_cell_word_of(state)}:"]
                lines += [f"  {cell.agent}: {cell.message}" for cell in cells]
            if hint:
                lines.append(f"  {hint if len(cells) > 1 else cells[0].hint}")
    return lines


def _smoke_failure(cell) -> list[str]:
    """A ready pair whose smoke run failed: lmprep's reason, the agent's own first error line,
    what the server received, and what to do."""
    result = cell.smoke
    lines = [""]
    if cell.state == "agent_unsupported":  # refused by lmprep's check, run anyway to show the agent's words
        lines.append(f"{cell.server} for {cell.agent}: {cell.state}: {cell.message}")
    lines.append(f"{cell.server} for {cell.agent}: smoke run failed in {result.seconds:.1f} s: {result.reason}")
    if result.first_error:
        lines.append(f"  {result.label} said: {result.first_error}")
    if result.started:
        lines.append(f"  the server received: {describe_requests(result) or 'nothing'}")
    lines += [f"  note: {note}" for note in result.notes]  # where an agent cannot take a token, say
    if result.hint:
        lines.append(f"  {result.hint}")
    return lines


def _cell_word_of(state: str) -> str:
    return {"needs_load": "needs a load", "needs_download": "needs a download",
            "needs_start": "needs a start", "smoke_failed": "smoke failed"}.get(state, state)
