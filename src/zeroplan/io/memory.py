"""How much memory this machine can give a run, for the size checks at the door."""

from __future__ import annotations

import os


def available_memory() -> int | None:
    """Bytes available now (Linux's MemAvailable; elsewhere the free pages), or
    None where the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
