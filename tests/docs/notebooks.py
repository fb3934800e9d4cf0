"""What the two notebook tests share: a kernel that is this interpreter, and a cell's printed text."""
from __future__ import annotations

import json
from pathlib import Path

from ipykernel.kernelspec import make_ipkernel_cmd
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager


def this_interpreters_kernel(folder: Path) -> KernelManager:
    """A kernel manager for "python3" from a kernel spec written under `folder`, so the kernel is this interpreter
    (the venv's), whatever else is installed."""
    spec = folder / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": make_ipkernel_cmd(), "display_name": "Python 3",
                                                  "language": "python"}))
    kernel_specs = KernelSpecManager(kernel_dirs=[str(folder)], ensure_native_kernel=False)
    return KernelManager(kernel_name="python3", kernel_spec_manager=kernel_specs)


def outputs_text(cell) -> str:
    return "".join(output.get("text", "") if output.output_type == "stream" else output.get("data", {}).get("text/plain", "")
                   for output in cell.get("outputs", []))
