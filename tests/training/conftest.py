"""Fixtures of the training tests: a static file server on 127.0.0.1 that downloads are tested against."""
import http.server
import threading

import pytest


@pytest.fixture()
def http_root(tmp_path):
    """A static file server on 127.0.0.1 serving tmp_path/www; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(autouse=True)
def no_download_retries(monkeypatch):
    """A failing download fails at once in tests (pooch would wait 1 s, then 2 s, between retries)."""
    monkeypatch.setattr("training.data.RETRIES", 0)
