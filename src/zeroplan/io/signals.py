"""Ctrl-C and SIGTERM as a request to stop at the next safe point.

Training loops (MuZero's runners, PETS) check a flag between steps and save
their state before returning, instead of dying mid-update with a traceback.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable


def catch_stop_signals(on_signal: Callable[[int], None]) -> Callable[[], None]:
    """Route SIGINT/SIGTERM to `on_signal(signum)`; returns a function that puts
    the previous handlers back. Outside the main thread (where Python cannot set
    handlers) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, lambda signum, frame: on_signal(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


class EvaluationStopped(Exception):
    """An evaluation given up because its run was asked to stop (a signal, the time budget)."""


Stop = Callable[[], bool]


def check_stop(stop: Stop | None) -> None:
    """Long loops inside a run (evaluations) ask this between steps, so a stop
    request ends them within a step rather than at their end."""
    if stop is not None and stop():
        raise EvaluationStopped
