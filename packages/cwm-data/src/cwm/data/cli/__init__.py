"""cwm-data's subcommands, one module each: ``cwm trace``, ``cwm data``, ``cwm sandbox``, ``cwm forage``."""
