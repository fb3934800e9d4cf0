"""The RNN Zoo BentoML service (onnxruntime, numpy, pydantic; never torch or training/).

Layout: `service.py` holds the API verbs of one BentoML class built from each task's endpoint class;
`tasks/<task>.py` holds a task's schemas, request/response adapter, endpoints and Session subclass, and
`tasks/__init__.py` lists them; the other modules are shared machinery that names no task (`core` model
resolution and batchers, `settings`, `sessions`, `session_api`, `batching`, `limits`, `open_inference`).
"""
