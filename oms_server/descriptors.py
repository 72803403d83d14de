"""The process's file descriptors: the soft limit raised to the hard one at start, and
the number open, watched as a gauge (idle connections hold one each)."""

from __future__ import annotations

import logging
import os
import resource

log = logging.getLogger(__name__)

_FD_DIR = "/proc/self/fd"


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("cannot raise the descriptor limit from %d to %d: %s", soft, hard, exc)
        return soft
    return hard


def descriptor_limit() -> int:
    """The soft RLIMIT_NOFILE in force."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_descriptors() -> int:
    """File descriptors this process has open (-1 where /proc is not there)."""
    try:
        return len(os.listdir(_FD_DIR))
    except OSError:
        return -1
