"""Prometheus series for /metrics that every task's endpoints share. Made inside the worker, after BentoML has
set up the multiprocess directory, so that every worker's numbers reach the endpoint; one set per process
(`shared()`): prometheus refuses a second registration of the same names."""
from __future__ import annotations


class ServiceMetrics:
    _shared: "ServiceMetrics | None" = None

    @classmethod
    def shared(cls) -> "ServiceMetrics":
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def __init__(self):
        import prometheus_client

        self.request_batch = prometheus_client.Histogram(
            "rnnzoo_batch_size", "rows (texts, price windows, stays) merged into one onnxruntime call",
            ["task", "model"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
        self.session_batch = prometheus_client.Histogram(
            "rnnzoo_session_step_batch_size", "session steps merged into one batch of onnxruntime calls", ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
