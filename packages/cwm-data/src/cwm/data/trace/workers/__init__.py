"""Running traced code away from the caller: fork-server workers with per-task limits."""
