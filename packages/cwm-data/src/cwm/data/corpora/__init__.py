"""Corpora: where trace tasks come from (harvested functions, test suites, task files)."""
