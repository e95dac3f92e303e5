"""cwm-rl's environments (``environment`` plugins): trace prediction, output prediction and
its mirror, input prediction. See the package README for their rows and outcomes."""

from cwm.rl.envs.output_prediction import InputPrediction, OutputPrediction
from cwm.rl.envs.trace_prediction import TracePrediction

__all__ = ["InputPrediction", "OutputPrediction", "TracePrediction"]
