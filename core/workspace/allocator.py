"""The C allocator's threshold for large blocks, pinned so that a long run's heap does not creep.

glibc's malloc serves blocks of 128 KiB or more with their own ``mmap`` and returns them to the system
when they are freed. But the first time such a block is freed, glibc raises that threshold to the block's
size (up to 32 MiB). From then on the workspace's largest tables (the topic index and recency order of a
250,000-topic tree, each several MiB) are allocated inside the heap each time they are resized. Between
resizes, small allocations settle in the holes those tables leave, so the heap grows in steps and never
shrinks: the window's resident memory rose 7 % over 20 minutes of topic churn while the memory in use was
flat. Setting the threshold once turns that adjustment off, and large blocks keep coming and going whole.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# glibc's mallopt parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# glibc's own starting values; pinning them is what turns the dynamic adjustment off.
LARGE_BLOCK_BYTES = 128 * 1024
TRIM_THRESHOLD_BYTES = 128 * 1024


def pin_large_block_threshold() -> bool:
    """Keep blocks of ``LARGE_BLOCK_BYTES`` or more outside the heap; False where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success.
    return bool(mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
