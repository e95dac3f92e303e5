"""Evaluation: running tasks and scoring them (pass@k, majority voting, best@k)."""
