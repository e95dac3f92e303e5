"""cwm-core's built-in plugins, registered through the ``cwm`` entry point like any other."""

from __future__ import annotations

from typing import Any

from cwm.core.plugins import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from cwm.core.cli.demo_cmd import demo
    from cwm.core.cli.plugins_cmd import plugins_command
    from cwm.core.cli.tokenizer_cmd import tokenizer

    cli.add_command(plugins_command)
    cli.add_command(tokenizer)
    cli.add_command(demo)
