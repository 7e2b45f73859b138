"""The pinned large-block threshold: a freed large table must not pull the next ones into the heap.

Each case runs in a child process, because the threshold is process-wide and cannot be unpinned.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
import textwrap

import pytest

from eventscope.core.workspace.allocator import LARGE_BLOCK_BYTES

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallinfo2"),
    reason="glibc's malloc only (mallinfo2 needs glibc 2.33)")

# Runs its first argument as the process's set-up, frees a 24 MiB block, then allocates a 2 MiB one, and
# prints how much of it came from mmap (in MiB).
_PROBE = textwrap.dedent("""
    import ctypes, sys

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    exec(sys.argv[1])
    table = bytearray(24 * 2**20)  # a large table, resized away
    del table
    before = libc.mallinfo2().hblkhd
    resized = bytearray(2 * 2**20)
    print((libc.mallinfo2().hblkhd - before) / 2**20)
""")


PINNED = "from eventscope.core.workspace.allocator import pin_large_block_threshold; assert pin_large_block_threshold()"


def mapped_mib_after_a_large_free(setup: str) -> float:
    """In a child process set up by running ``setup``: MiB of a new 2 MiB block served by mmap after a large free."""
    done = subprocess.run([sys.executable, "-c", _PROBE, setup], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return float(done.stdout)


def test_without_the_pin_glibc_moves_large_blocks_into_the_heap_after_one_is_freed():
    # What the pin is for: this is the adjustment that made the window's heap creep over a long run.
    assert mapped_mib_after_a_large_free("") == 0


def test_with_the_pin_large_blocks_stay_outside_the_heap_after_one_is_freed():
    assert mapped_mib_after_a_large_free(PINNED) >= 2
    assert LARGE_BLOCK_BYTES < 2 * 2**20


_HOLES = textwrap.dedent("""
    import os, sys
    from eventscope.core.workspace.allocator import return_freed_memory

    def rss_mib():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    blocks = [bytearray(1_000) for _ in range(200_000)]  # 200 MB of heap blocks, too large for CPython's pools
    kept = blocks[::50]  # a few stay, so the heap cannot simply shrink from its top
    del blocks
    before = rss_mib()
    assert return_freed_memory()
    print(before - rss_mib())
""")


def test_handing_freed_memory_back_shrinks_a_heap_full_of_holes():
    done = subprocess.run([sys.executable, "-c", _HOLES], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) > 100  # MiB given back of the ~190 freed
