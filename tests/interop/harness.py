"""The interop tests' process harness: subprocesses with line-by-line output and timeouts."""

import json
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"

# How long a peer may take to start listening, and a whole script to run.
START_TIMEOUT = 15.0
RUN_TIMEOUT = 90.0


class Process:
    """A subprocess whose stdout lines are read as they come, by a thread."""

    def __init__(self, argv, name):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.proc = subprocess.Popen(
            self.argv,
            cwd=HERE,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self.stdout = []
        self.stderr = []
        self._lines = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout, True)),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, False)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()

    def _read(self, stream, sink, forward):
        for line in stream:
            line = line.rstrip("\n")
            sink.append(line)
            if forward:
                self._lines.put(line)
        if forward:
            self._lines.put(None)

    def describe(self):
        return (
            f"{self.name}: {' '.join(self.argv)}\n"
            f"--- stdout\n" + "\n".join(self.stdout) + "\n--- stderr\n" + "\n".join(self.stderr)
        )

    def wait_line(self, pattern, timeout=START_TIMEOUT):
        """The first stdout line matching `pattern` (a regex), as a match object."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
                if line is None:
                    break
                match = re.search(pattern, line)
                if match:
                    return match
        except queue.Empty:
            pass
        pytest.fail(f"no line matching {pattern!r} within {timeout} s\n{self.describe()}")

    def wait(self, timeout=RUN_TIMEOUT):
        """Waits for the process to exit and for its output to be read; the exit status."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"still running after {timeout} s, killed\n{self.describe()}")
        for reader in self._readers:
            reader.join(timeout=5)
        return self.proc.returncode

    def json_lines(self):
        lines = []
        for line in self.stdout:
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
        return lines

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def python_peer(script):
    """The argv prefix that runs a Python peer with this interpreter (the venv's)."""
    return [sys.executable, str(PEERS / script)]


def node_peer(node, script):
    return [node, str(PEERS / script)]


def steps(process):
    """The `step` lines a client printed, in order."""
    return [line for line in process.json_lines() if "step" in line]


def events(process, name):
    return [line for line in process.json_lines() if line.get("event") == name]
