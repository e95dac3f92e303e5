"""cwm-train's subcommands, one module each: ``cwm train`` and ``cwm demo``."""
