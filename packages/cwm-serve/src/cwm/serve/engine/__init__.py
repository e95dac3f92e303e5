"""The inference engine: paged KV cache, continuous batching, sampling, weight updates."""

from cwm.serve.engine.config import EngineConfig
from cwm.serve.engine.llm_engine import LLMEngine
from cwm.serve.engine.outputs import CompletionOutput, RequestOutput
from cwm.serve.engine.sampling_params import SamplingParams

__all__ = ["CompletionOutput", "EngineConfig", "LLMEngine", "RequestOutput", "SamplingParams"]
