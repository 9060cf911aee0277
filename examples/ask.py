"""ask: a tiny click CLI that puts one question to a model, with `--oss` from lmprep.

    python examples/ask.py --oss "Why is the sky blue?"
    python examples/ask.py --oss --local-provider ollama -m llama3.2 "Why is the sky blue?"

`@oss_options` adds --oss, --local-provider and -m/--model. With --oss, lmprep makes the
local server ready first (progress on stderr; on failure lmprep's message and exit code,
and the command body never runs) and hands the command a `Readiness` with the server's
base URL and the model. Without --oss a real tool would call its hosted API; this
example only shows the local path.
"""

from __future__ import annotations

import click
import httpx

from lmprep.click import oss_options


@click.command()
@oss_options
@click.option("--max-tokens", type=int, default=64, show_default=True, help="Longest answer, in tokens.")
@click.argument("question")
def ask(oss, model, max_tokens, question):
    """Ask QUESTION and print the answer."""
    if oss is None:
        raise click.UsageError("this example only knows the local path: add --oss")
    response = httpx.post(
        f"{oss.base_url}/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens},
        timeout=httpx.Timeout(10, read=600),  # the first answer may wait for the model to load
    )
    response.raise_for_status()
    click.echo(response.json()["choices"][0]["message"]["content"])


if __name__ == "__main__":
    ask()
