"""The ``cwm`` command: a click group whose subcommands come from installed plugins.

Every package (cwm-core included) adds its commands in its ``register_commands``
hook, so ``cwm --help`` lists exactly what is installed.
"""

from __future__ import annotations

from typing import Any

import click

from cwm.core import __version__
from cwm.core.errors import CwmError
from cwm.core.plugins import plugins as installed_plugins


class CwmGroup(click.Group):
    """Shows a `CwmError` as one ``Error: ...`` line (exit 1) instead of a traceback."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.origins: dict[str, str] = {}  # command name -> package that added it

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CwmError as exc:
            raise click.ClickException(str(exc)) from exc


def group(name: str, help: str) -> click.Group:
    """A subcommand group (``cwm tokenizer ...``) with the same error handling."""
    return CwmGroup(name=name, help=help, context_settings={"help_option_names": ["-h", "--help"]})


def build_cli() -> CwmGroup:
    cli = CwmGroup(
        name="cwm",
        help="CWM: trace Python, collect agentic trajectories, train, post-train and serve "
        "a code world model. Subcommands come from the installed cwm packages.",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    cli = click.version_option(__version__, prog_name="cwm")(cli)
    found = installed_plugins()
    for impl in reversed(found.pm.hook.register_commands.get_hookimpls()):
        package = found.package_of(impl.plugin)
        before = dict(cli.commands)
        impl.function(cli=cli)
        for name, command in cli.commands.items():
            if name in before and before[name] is not command:
                raise CwmError(
                    f"command {name!r} is added by both {cli.origins[name]} and {package}"
                )
            if name not in before:
                cli.origins[name] = package
    return cli


def main(argv: list[str] | None = None) -> None:
    try:
        cli = build_cli()
    except CwmError as exc:
        raise SystemExit(f"Error: {exc}") from None
    cli.main(args=argv, prog_name="cwm")
