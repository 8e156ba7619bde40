"""The play entry point under a real pseudo-terminal: typed moves, a typo, Ctrl-D."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a POSIX pseudo-terminal")

PROMPT = re.compile(rb"your move \(([\d ]+); q to quit\): ")
ENTRY = "import torch; torch.set_num_threads(1); from zeroplan.play import main; main({argv!r})"


def _take_terminal() -> None:
    """In the child, after setsid: make the pty its controlling terminal, so Ctrl-C becomes SIGINT."""
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A child process whose stdin, stdout and stderr are one pty, as in a real terminal."""

    def __init__(self, argv: list[str]):
        self.master, slave = os.openpty()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, "-c", ENTRY.format(argv=argv)], stdin=slave, stdout=slave,
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
    term = Terminal(["tictactoe", "--first", "--seed", "2"])
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
    term = Terminal(["tictactoe", "--second"])
    try:
        assert term.read_until(PROMPT, 0) is not None, term.buffer.decode()
        term.type(b"\x04")  # Ctrl-D at an empty line: end of input
        assert term.read_until(re.compile(rb"game abandoned\."), 0) is not None, term.buffer.decode()
        assert term.wait() == 0
    finally:
        term.shutdown()
    assert b"Traceback" not in term.buffer


def test_ctrl_c_stops_with_status_130():
    term = Terminal(["tictactoe"])
    try:
        assert term.read_until(PROMPT, 0) is not None, term.buffer.decode()
        term.type(b"\x03")  # the terminal turns Ctrl-C into SIGINT for the child
        assert term.read_until(re.compile(rb"interrupted\."), 0) is not None, term.buffer.decode()
        assert term.wait() == 130
    finally:
        term.shutdown()
    assert b"Traceback" not in term.buffer
