"""A real OpenAI-compatible server for the tests marked `llama`: llama.cpp's llama-server
serving SmolLM2-135M-Instruct, both built from PyPI by scripts/local-llm.sh into a cache
outside the repository. Without them the tests skip, unless QRELAY_REQUIRE_LLAMA=1 (CI),
where they fail: CI builds the server first."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("QRELAY_LLM_CACHE", Path.home() / ".cache" / "qrelay-llm"))
SERVER = CACHE / "build" / "bin" / "llama-server"
MODEL = CACHE / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
ALIAS = "smollm2-135m"
SLOTS = 4


@dataclass
class LlamaServer:
    port: int
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(SERVER), "-m", str(MODEL), "-a", ALIAS, "--host", "127.0.0.1", "--port", str(self.port),
                    "-c", str(SLOTS * 2048), "-np", str(SLOTS), "-t", "2", "--no-webui",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while not self.healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"llama-server did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM, as an operator would; calls in flight are cut."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                return b'"ok"' in response.read()
        except OSError:
            return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    if not (SERVER.exists() and MODEL.exists()):
        message = f"llama-server or the model is missing under {CACHE}: run scripts/local-llm.sh build"
        if os.environ.get("QRELAY_REQUIRE_LLAMA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    server = LlamaServer(free_port(), tmp_path_factory.mktemp("llama") / "server.log")
    server.start()
    yield server
    server.stop()
