"""`bentoml build` works offline, ships the artifacts, and its requirements hold no torch."""
import os
import subprocess
import sys
from pathlib import Path

from zoo import list_models
from zoo.cards import ModelCard
from zoo.runtime import ARTIFACTS_DIR

REPO = Path(__file__).resolve().parent.parent


def test_bento_builds_with_artifacts_and_without_torch(tmp_path):
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml")}
    result = subprocess.run([sys.executable, "-m", "bentoml", "build", "--output", "tag"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    [bento] = list((tmp_path / "bentoml" / "bentos" / "rnnzoo").glob("*/bento.yaml"))
    root = bento.parent
    for name in list_models():
        card = ModelCard.load(ARTIFACTS_DIR / name)
        files = ["model.onnx", "card.json", *card.figures]
        files += [card.preprocessing.tokenizer_file] if card.preprocessing.tokenizer_file else []
        for file in files:
            assert (root / "src" / "zoo" / "artifacts" / name / file).is_file()
    assert not list((root / "src").rglob("training/*.py")), "training code is not part of the served bento"
    requirements = (root / "env" / "python" / "requirements.txt").read_text().lower()
    assert "onnxruntime" in requirements and "bentoml" in requirements
    assert "torch" not in requirements
    dockerfile = (root / "env" / "docker" / "Dockerfile").read_text()
    assert "FROM python:3.11" in dockerfile  # bentofile.yaml's docker.python_version
    assert "requirements.txt" in dockerfile and "ENTRYPOINT" in dockerfile
