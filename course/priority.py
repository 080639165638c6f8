"""Work that runs beside the pages gives way to them.

One Streamlit server runs every viewer's pages, training runs and generations on the same cores.
A slider must answer at once, so the threads that train or generate run at a lower priority than
the threads that rerun pages: training lowest (it runs for minutes), generation less so (a viewer
watches it stream). On Linux a thread's nice value is its own, and the OpenMP workers torch starts
from that thread inherit it. Elsewhere `setpriority` would lower the whole server, so it is skipped.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

RUN_NICENESS = 10  # a thread at nice 10 gets about a ninth of the CPU a page's rerun gets
GENERATION_NICENESS = 5  # about a third: a generation still streams far faster than anyone reads


def give_way_to_pages(niceness: int) -> None:
    """Lower the calling thread's priority to `niceness` (Linux); a no-op elsewhere. A thread cannot
    raise its priority again without privileges, so call it only in a thread made for the work."""
    if sys.platform != "linux":
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except OSError:  # a sandbox may refuse it; the work runs at the server's priority
        log.info("could not lower the priority of thread %s", threading.get_native_id())
