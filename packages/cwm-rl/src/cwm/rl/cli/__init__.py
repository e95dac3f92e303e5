"""cwm-rl's subcommands, one module each: ``cwm eval`` and ``cwm rl``."""
