"""cwm-serve's subcommands, one module each: ``cwm serve`` and ``cwm debug``."""
