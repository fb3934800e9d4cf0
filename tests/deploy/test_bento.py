"""`bentoml build` works offline, ships the artifacts, and its requirements hold no torch."""
import os
import subprocess
import sys

from tests.helpers import REPO
from zoo import list_models
from zoo.artifacts import ARTIFACTS_DIR
from zoo.cards import ModelCard


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
        files += [graph.export.onnx_file for graph in card.graphs]  # a translator's encoder
        files += [card.preprocessing.statistics["target_tokenizer_file"]] if card.task == "translation" else []
        for file in files:
            assert (root / "src" / "zoo" / "artifacts" / name / file).is_file()
    assert not list((root / "src").rglob("training/*.py")), "training code is not part of the served bento"
    requirements = (root / "env" / "python" / "requirements.txt").read_text().lower()
    assert "onnxruntime" in requirements and "bentoml" in requirements and "redis" in requirements
    assert "torch" not in requirements
    dockerfile = (root / "env" / "docker" / "Dockerfile").read_text()
    assert "FROM python:3.11" in dockerfile  # pyproject.toml: [tool.bentoml.build] docker.python_version
    assert "requirements.txt" in dockerfile and "ENTRYPOINT" in dockerfile


def test_the_built_bento_serves_every_endpoint(tmp_path):
    """`bentoml serve <tag>` runs the bento's copy of the code and artifacts, not this checkout."""
    import json
    import urllib.request

    from service.local_server import local_server
    from tests.helpers import post

    home = tmp_path / "bentoml"
    env = {**os.environ, "BENTOML_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "bentoml", "build"], cwd=REPO, env=env, capture_output=True, check=True,
                   timeout=300)
    [bento] = list((home / "bentos" / "rnnzoo").glob("*/bento.yaml"))
    tag = f"rnnzoo:{bento.parent.name}"

    command = [sys.executable, "-m", "bentoml", "serve", tag, "--host", "127.0.0.1", "--port", "{port}"]
    with local_server(tmp_path / "bento.log", env={"BENTOML_HOME": str(home)}, command=command) as url:
        assert post(f"{url}/sentiment", {"texts": ["a gorgeous movie"]})[1]["predictions"][0]["label"] == "positive"
        assert post(f"{url}/generate", {"prompt": "ROMEO:", "max_new_tokens": 20, "seed": 1})[1]["tokens_generated"] == 20
        assert len(post(f"{url}/stock_forecast", {"closes": [40.0 + 0.1 * i for i in range(61)]})[1]["forecast"]) == 5
        rows = [{"time": "00:10", "parameter": "HR", "value": 80}, {"time": "01:10", "parameter": "HR", "value": 90}]
        assert post(f"{url}/vitals", {"observations": rows})[1]["hours_observed"] == 2
        session = post(f"{url}/sessions/start", {"model": "shakespeare-gru"})[1]["session_id"]
        assert post(f"{url}/sessions/step", {"session_id": session, "text": "ROMEO:"})[1]["generation"]["characters_seen"] == 6
        assert post(f"{url}/sessions/end", {"session_id": session})[1]["ended"] is True
        with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=30) as response:
            assert json.loads(response.read()) == {"ready": True}
        for path in ("/playground", "/playground/playground.js", "/playground/sample_stay.csv"):  # the page's files ship
            with urllib.request.urlopen(f"{url}{path}", timeout=30) as response:
                assert response.status == 200 and response.read()
    assert f'from "{tag}"' in (tmp_path / "bento.log").read_text()  # the built bento, not this checkout


def test_the_gpu_bento_builds_with_cuda_and_onnxruntime_gpu(tmp_path):
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml")}
    result = subprocess.run([sys.executable, "-m", "bentoml", "build", "-f", "service/bentofile.gpu.yaml"], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    [bento] = list((tmp_path / "bentoml" / "bentos" / "rnnzoo").glob("*/bento.yaml"))
    assert "target: gpu" in bento.read_text()
    requirements = (bento.parent / "env" / "python" / "requirements.txt").read_text().lower().splitlines()
    assert any(line.startswith("onnxruntime-gpu") for line in requirements)
    assert not any(line.startswith("onnxruntime>") or line.startswith("torch") for line in requirements)
    dockerfile = (bento.parent / "env" / "docker" / "Dockerfile").read_text()
    assert "nvidia/cuda:12.8" in dockerfile and "ENTRYPOINT" in dockerfile
    for name in list_models():
        for file in ("model.onnx", "parity.npz"):
            assert (bento.parent / "src" / "zoo" / "artifacts" / name / file).is_file()
    assert (bento.parent / "src" / "service" / "playground" / "index.html").is_file()


def test_the_gpu_bentofile_states_the_cpu_bentos_packages_and_files():
    """pyproject.toml states each dependency once; the GPU bentofile (BentoML's YAML cannot read pyproject)
    must repeat them with onnxruntime-gpu for onnxruntime, and ship the same files."""
    import tomllib
    import yaml

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    gpu = yaml.safe_load((REPO / "service" / "bentofile.gpu.yaml").read_text())
    expected = [p.replace("onnxruntime>", "onnxruntime-gpu>") for p in project["project"]["dependencies"]]
    assert gpu["python"]["packages"] == expected
    assert gpu["include"] == project["tool"]["bentoml"]["build"]["include"]
