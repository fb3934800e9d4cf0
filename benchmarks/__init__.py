"""Benchmarks: harnesses that print ratios measured side by side in one run (not tests). They may import
torch and training/ (the naive baseline server runs torch eager), so they live outside the packages the
wheel and the bento ship: `python -m benchmarks.performance`, `.soak`, `.sessions`, `.generation`."""
