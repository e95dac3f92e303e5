"""A minimal CWM plugin package; see plugin.py."""
