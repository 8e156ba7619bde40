"""The play entry point under a real pseudo-terminal: typed moves, a typo, Ctrl-D."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow  # each test starts the command in a real pseudo-terminal

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a POSIX pseudo-terminal")

PROMPT = re.compile(rb"your move \(([\d ]+); q to quit\): ")
ENTRY = "import torch; torch.set_num_threads(1); from zeroplan.play import main; main({argv!r})"
# The same through the command line itself, `zeroplan play ...`.
CLI_ENTRY = ("import sys, torch; torch.set_num_threads(1); from zeroplan.cli import main; "
             "sys.argv = ['zeroplan', 'play'] + {argv!r}; main()")


def _take_terminal() -> None:
    """In the child, after setsid: make the pty its controlling terminal, so Ctrl-C becomes SIGINT."""
    import fcntl
    import signal
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    # A test run started in the background (CI, a `&` job) inherits SIGINT ignored, and
    # Python keeps an inherited "ignore": give the child a terminal user's default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Terminal:
    """A child process whose stdin, stdout and stderr are one pty, as in a real terminal."""

    def __init__(self, argv: list[str], entry: str = ENTRY):
        self.master, slave = os.openpty()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, "-c", entry.format(argv=argv)], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, close_fds=True, start_new_session=True,
                                     preexec_fn=_take_terminal)
        os.close(slave)
        self.buffer = b""

    def read_until(self, pattern: re.Pattern[bytes], start: int, timeout: float = 30.0) -> re.Match[bytes] | None:
        """The first match at or after `start`; None if the child exits first."""
        deadline = time.monotonic() + timeout
        while True:
            match = pattern.search(self.buffer, start)
            if match:
                return match
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {pattern.pattern!r}; got:\n{self.buffer.decode()}")
            ready, _, _ = select.select([self.master], [], [], min(left, 1.0))
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    return None
                self.buffer += chunk
            elif self.proc.poll() is not None:
                return None

    def type(self, text: bytes) -> None:
        os.write(self.master, text)

    def wait(self) -> int:
        return self.proc.wait(timeout=30)

    def shutdown(self) -> None:
        """Idempotent cleanup, also after a failed assertion."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


def test_a_whole_game_typed_at_a_terminal():
    term = Terminal(["tictactoe", "--first", "--seed", "2"], CLI_ENTRY)
    try:
        pos, typed_typo = 0, False
        while True:
            match = term.read_until(re.compile(PROMPT.pattern + rb"|game over: [^\r\n]+"), pos)
            assert match is not None, term.buffer.decode()
            pos = match.end()
            if match.group(0).startswith(b"game over"):
                break
            if not typed_typo:
                term.type(b"seven\n")
                typed_typo = True
                continue
            term.type(match.group(1).split()[-1] + b"\n")  # the last legal move listed
        assert term.wait() == 0
    finally:
        term.shutdown()
    text = term.buffer.decode()
    assert "'seven' is not a number" in text
    assert "the perfect player plays" in text
    assert re.search(r"game over: (a draw|the perfect player wins)", text)


def test_ctrl_d_ends_the_game_cleanly():
    term = Terminal(["tictactoe", "--second"], CLI_ENTRY)
    try:
        assert term.read_until(PROMPT, 0) is not None, term.buffer.decode()
        term.type(b"\x04")  # Ctrl-D at an empty line: end of input
        assert term.read_until(re.compile(rb"game abandoned\."), 0) is not None, term.buffer.decode()
        assert term.wait() == 0
    finally:
        term.shutdown()
    assert b"Traceback" not in term.buffer


def test_ctrl_c_stops_with_status_130():
    """SIGINT while waiting for a move (what Ctrl-C sends): a goodbye, status 130, no traceback.

    Sent directly rather than typed into the pty: under some CI terminals the
    line discipline's output flush on ^C swallows the goodbye line."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", CLI_ENTRY.format(argv=["tictactoe"])], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    out = b""
    while not PROMPT.search(out):
        chunk = os.read(proc.stdout.fileno(), 4096)
        assert chunk, proc.communicate()
        out += chunk
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert b"interrupted." in rest and b"Traceback" not in err
