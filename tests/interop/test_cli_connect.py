"""`switchboard connect`, the command-line client, against a third-party server (Python
`websockets`): the way a user scripts it, with `-x`/`--once`, pipe mode, and `--trace` on a
compressed connection.
"""

import subprocess

from harness import events, python_peer

TIMEOUT = 30


def start_server(spawn, compression="deflate"):
    server = spawn(
        python_peer("websockets_server.py") + ["--compression", compression], "websockets server"
    )
    port = server.wait_line(r'"event": ?"listening", ?"port": ?(\d+)').group(1)
    return server, f"ws://127.0.0.1:{port}/"


def connect(switchboard_bin, *args, stdin=None):
    return subprocess.run(
        [switchboard_bin, "connect", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_execute_and_print_the_first_reply(spawn, switchboard_bin):
    server, url = start_server(spawn)
    done = connect(switchboard_bin, "-x", "hello from switchboard", "--once", url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello from switchboard", done.stdout
    assert server.wait() == 0, server.describe()
    (closed,) = events(server, "closed")
    assert closed["code"] == 1000, server.describe()


def test_pipe_mode_sends_each_line_and_prints_each_echo(spawn, switchboard_bin):
    server, url = start_server(spawn, compression="none")
    done = connect(switchboard_bin, "--wait", "2", url, stdin="first\nsecond\nthird\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["first", "second", "third"], done.stdout
    assert server.wait() == 0, server.describe()


def test_trace_shows_the_handshake_and_compressed_frames(spawn, switchboard_bin):
    server, url = start_server(spawn)
    message = "a message long enough to be compressed " * 4
    done = connect(switchboard_bin, "--trace", "-x", message, "--once", url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == message.strip(), done.stdout
    trace = done.stderr
    assert "GET / HTTP/1.1" in trace, trace
    assert "101" in trace and "permessage-deflate" in trace, trace
    assert "compressed" in trace, trace
    assert server.wait() == 0, server.describe()
