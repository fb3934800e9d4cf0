"""The RNN Zoo BentoML service (onnxruntime, numpy, pydantic; never torch)."""
