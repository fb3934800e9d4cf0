"""RNN Zoo: registry, model cards, shared preprocessing and the shipped ONNX artifacts."""
from zoo.registry import UnknownModelError, create_model, get_spec, list_models

__all__ = ["UnknownModelError", "create_model", "get_spec", "list_models"]
