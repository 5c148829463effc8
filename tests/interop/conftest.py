"""Fixtures for the interop tests: our binaries, the peers, and processes that always end.

Every process is started on 127.0.0.1 with port 0 (each server prints the port it got), every
wait has a timeout, and a test's processes are killed by their Popen handle when it ends.
"""

import itertools
import json
import os
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from harness import HERE, Process

ROOT = HERE.parents[1]


def _binary(variable, default):
    path = Path(os.environ.get(variable) or ROOT / default)
    if not path.is_file():
        pytest.exit(f"{path} is missing: build it, or point {variable} at it", returncode=2)
    return str(path)


def pytest_report_header(config):
    node = shutil.which("node")
    if node is not None:
        node = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10)
        node = node.stdout.strip()
    ws_version = "missing"
    ws_package = HERE / "node_modules" / "ws" / "package.json"
    if ws_package.is_file():
        ws_version = json.loads(ws_package.read_text())["version"]
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("websockets", "websocket-client")
    )
    return [f"interop peers: {versions}, node {node} with ws {ws_version}"]


@pytest.fixture
def spawn():
    """Starts processes; kills any still running when the test ends."""
    started = []

    def start(argv, name):
        process = Process(argv, name)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture(scope="session")
def switchboard_bin():
    return _binary("SWITCHBOARD_BIN", "target/release/switchboard")


@pytest.fixture(scope="session")
def interop_client_bin():
    return _binary("SWITCHBOARD_INTEROP_CLIENT", "target/release/examples/interop_client")


@pytest.fixture(scope="session")
def node():
    path = shutil.which("node")
    if path is None:
        pytest.exit("node is missing: install Node.js (scripts/test.sh interop does)", returncode=2)
    if not (HERE / "node_modules" / "ws").is_dir():
        pytest.exit("ws is missing: run `npm ci` in tests/interop", returncode=2)
    return path


@pytest.fixture
def echo_server(spawn, switchboard_bin):
    """Starts `switchboard echo` on a free port; returns a function of `deflate` giving its URL."""

    def start(deflate=True):
        argv = [switchboard_bin, "echo", "--listen", "127.0.0.1:0"]
        if not deflate:
            argv.append("--no-deflate")
        server = spawn(argv, "switchboard echo")
        match = server.wait_line(r"listening on (ws://127\.0\.0\.1:\d+)")
        return match.group(1)

    return start


@pytest.fixture
def serve(spawn, switchboard_bin, tmp_path):
    """Starts `switchboard serve` on a free port with a TOML configuration file; returns a
    function of the file's text giving the address it listens on, `127.0.0.1:PORT`."""
    numbers = itertools.count()

    def start(config=""):
        path = tmp_path / f"switchboard-{next(numbers)}.toml"
        path.write_text(config, encoding="utf-8")
        argv = [switchboard_bin, "serve", "--listen", "127.0.0.1:0", "--config", path]
        server = spawn(argv, "switchboard serve")
        match = server.wait_line(r"^switchboard serve: listening on http://(127\.0\.0\.1:\d+)$")
        return match.group(1)

    return start
