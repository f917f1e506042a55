"""Process limits that many connections need."""

from __future__ import annotations

import resource

__all__ = ["raise_nofile"]


def raise_nofile() -> int:
    """Raise the soft RLIMIT_NOFILE (open files, so sockets) to the hard limit; return the new soft limit.

    Children started afterwards inherit it. When the hard limit itself is too low, only
    the system administrator can raise it (``ulimit -Hn``, limits.conf, systemd's LimitNOFILE).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
