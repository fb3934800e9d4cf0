"""Training, evaluation and ONNX export for the zoo's models (needs the `train` extra: torch).

Layout: `<task>/` holds a task's data loaders, training script and exporter (which ends with its
`TrainingTask`), and `tasks.py` lists them; the other modules are shared machinery that names no task
(`checkpoints`, `onnx_export`, `parity_vectors`, `from_onnx`, `quantize`, `bring_your_own`, the downloader
in `data`). Commands: `python -m training.<task>.train`, `python -m training.<task>.export`.
"""
