"""``cwm`` pinned to the core of its torchrun rank (``LOCAL_RANK`` mod the cores), as
``python rl_pinned_worker.py rl --config ...``: bench_rl's distributed run, whose actor
(rank 1) runs on the core its engine-alone baseline is then measured on."""

import os
import sys

from cwm.core.cli import main

if __name__ == "__main__":
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(os.environ["LOCAL_RANK"]) % (os.cpu_count() or 1)})
    main(sys.argv[1:])
