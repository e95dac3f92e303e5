"""Environments of cwm-rl: token-level episodes (see `cwm.core.envs`), registered as
``environment`` plugins."""
