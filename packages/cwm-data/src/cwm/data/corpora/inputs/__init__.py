"""Inputs for harvested functions: from doctests, call sites, type hints, defaults, uses and names."""
