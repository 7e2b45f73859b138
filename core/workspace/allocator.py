"""The C allocator: its threshold for large blocks, pinned so that a long run's heap does not creep, and
the freed heap handed back after the tree lets go of much at once.

glibc's malloc serves blocks of 128 KiB or more with their own ``mmap`` and returns them to the system
when they are freed. But the first time such a block is freed, glibc raises that threshold to the block's
size (up to 32 MiB). From then on the workspace's largest tables (the topic index and recency order of a
250,000-topic tree, each several MiB) are allocated inside the heap each time they are resized. Between
resizes, small allocations settle in the holes those tables leave, so the heap grows in steps and never
shrinks: the window's resident memory rose 7 % over 20 minutes of topic churn while the memory in use was
flat. Setting the threshold once turns that adjustment off, and large blocks keep coming and going whole.

Blocks under the threshold but over CPython's own 512 bytes (a topic's history buffer) live in the heap.
When the tree shortens every topic's history, glibc keeps what they freed: about 100 MiB for 100,000
topics. ``return_freed_memory`` gives those free pages back (``malloc_trim``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache

# glibc's mallopt parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# glibc's own starting values; pinning them is what turns the dynamic adjustment off.
LARGE_BLOCK_BYTES = 128 * 1024
TRIM_THRESHOLD_BYTES = 128 * 1024


@cache
def _glibc_function(name: str):
    """One of glibc's malloc functions, or None where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):  # musl and others have neither mallopt nor malloc_trim
        return None


def pin_large_block_threshold() -> bool:
    """Keep blocks of ``LARGE_BLOCK_BYTES`` or more outside the heap; False where the C library is not glibc."""
    mallopt = _glibc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success.
    return bool(mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


def return_freed_memory() -> bool:
    """Give the heap's free pages back to the system; False where the C library is not glibc. It takes a few
    milliseconds for a heap of hundreds of MiB, with the interpreter lock free meanwhile (ctypes releases it)."""
    trim = _glibc_function("malloc_trim")
    if trim is None:
        return False
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    trim(0)
    return True
