"""The asynchronous RL run: actors on the cwm-serve engine, cwm-train's learner, a lag bound."""
