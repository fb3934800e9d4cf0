"""Training, evaluation and ONNX export for the zoo's models (needs the `train` extra: torch)."""
