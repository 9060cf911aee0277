"""`lmprep completion SHELL`: the script that makes the shell complete lmprep."""

from __future__ import annotations

import click

from ._group import LmprepCommand, cli

COMPLETION_SHELLS = ("bash", "zsh", "fish")


#: The variable through which the shell asks for completions (click's protocol).
COMPLETE_VARIABLE = "_LMPREP_COMPLETE"


@click.command("completion", cls=LmprepCommand, short_help="Print the script that makes bash, zsh or fish complete lmprep.")
@click.argument("shell", type=click.Choice(COMPLETION_SHELLS))
def completion(shell: str) -> None:
    """Print the script that makes SHELL complete lmprep's commands, options, providers
    (also the config file's), agents and warm-up modes.

    \b
    eval "$(lmprep completion bash)"     # in ~/.bashrc
    eval "$(lmprep completion zsh)"      # in ~/.zshrc
    lmprep completion fish > ~/.config/fish/completions/lmprep.fish
    """
    from click.shell_completion import get_completion_class

    script = get_completion_class(shell)(cli, {}, "lmprep", COMPLETE_VARIABLE).source()
    click.echo(script)


command = completion
