"""moeserve processes started by the tests, each on a free loopback port."""

from __future__ import annotations

import http.client as httplib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from e2e_settings import BIN, MODEL, MODEL_PATH, REPO

# --- Servers -------------------------------------------------------------------------------------


def tiny_qwen3_folder(folder: Path, chat_template: str) -> Path:
    """A Hugging Face folder for the tiny random-weight Qwen3 checkpoint (Tests/Fixtures/models/qwen3) with the
    serving fixtures' tokenizer (256 byte-like tokens: every marker is written in pieces) and this chat template."""
    fixtures = REPO / "Tests/Fixtures/models"
    folder.mkdir(parents=True, exist_ok=True)
    for name in os.listdir(fixtures / "qwen3"):
        if name == "config.json" or name.startswith("model"):
            os.symlink(fixtures / "qwen3" / name, folder / name)
    os.symlink(fixtures / "serving/tokenizer.json", folder / "tokenizer.json")
    config = json.loads((fixtures / "serving/tokenizer_config.json").read_text())
    config["chat_template"] = chat_template
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = httplib.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/")
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@dataclass
class ServerProcess:
    """A moeserve started by the tests, on a free loopback port, in a scratch directory (so no
    config/moeserve.yaml is picked up: everything it needs is on the command line)."""

    args: list[str]
    model_path: str = MODEL_PATH
    model_id: str = MODEL
    url: str = ""
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    # While loading, each /health poll is followed by these API requests (method, path, body),
    # to see what the API answers before the model is ready.
    probes: list[tuple[str, str, Any]] = field(default_factory=list)
    probe_headers: dict[str, str] = field(default_factory=dict)
    health_seen: list[tuple[int, bytes]] = field(default_factory=list)
    # (method, path, status, content type, body, /health status right after)
    probes_seen: list[tuple[str, str, int, str, bytes, int]] = field(default_factory=list)
    _tmp: Any = None
    final_log: str = ""  # the whole server log, kept by stop()

    def start(self, ready_timeout: float = 120.0) -> "ServerProcess":
        if not BIN:
            pytest.skip("MOESERVE_BIN not set: cannot start a server of our own")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._tmp = tempfile.TemporaryDirectory(prefix="moeserve-e2e-")
        self.log_path = Path(self._tmp.name) / "server.log"
        cmd = [BIN, "serve", "--host", "127.0.0.1", "--port", str(port),
               "--model", self.model_path, "--model-id", self.model_id, *self.args]
        # The server reads MOESERVE_* settings from the environment (MOESERVE_API_KEY would turn
        # on auth); this one is configured by its command line alone.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOESERVE_")}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self._tmp.name, env=env)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, body = http_get(self.url + "/health")
            except OSError:
                time.sleep(0.02)
                continue
            self.health_seen.append((status, body))
            if status == 200:
                return self
            for method, path, payload in self.probes:
                self._probe(method, path, payload)
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"server not healthy after {ready_timeout} s:\n{self.log()}")

    def _probe(self, method: str, path: str, payload: Any) -> None:
        parts = urlsplit(self.url)
        conn = httplib.HTTPConnection(parts.hostname, parts.port, timeout=5)
        try:
            data = None if payload is None else json.dumps(payload).encode()
            headers = dict(self.probe_headers)
            if data is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            # /health right after: a probe sent just as loading finished is legitimately answered (200).
            try:
                health_after = http_get(self.url + "/health")[0]
            except OSError:
                health_after = 0
            self.probes_seen.append((method, path, resp.status, resp.getheader("Content-Type") or "", body, health_after))
        except OSError:
            pass
        finally:
            conn.close()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:] if self.log_path else ""
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log_path is not None and self.log_path.exists():
            self.final_log = self.log_path.read_text(errors="replace")
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
