"""An example CWM environment plugin package; see plugin.py and arithmetic.py."""
