"""cwm-serve's built-in plugins, registered through the ``cwm`` entry point like any other.

Cheap to import: torch, starlette and uvicorn load inside the commands.
"""

from __future__ import annotations

from typing import Any

from cwm.core.plugins import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from cwm.serve.cli.debug import debug
    from cwm.serve.cli.serve import serve

    cli.add_command(serve)
    cli.add_command(debug)
