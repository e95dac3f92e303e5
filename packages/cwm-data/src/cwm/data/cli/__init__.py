"""cwm-data's subcommands: ``cwm trace`` and ``cwm data``."""
