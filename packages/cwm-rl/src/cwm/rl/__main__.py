"""``python -m cwm.rl --config ...`` (what torchrun launches): ``cwm rl``."""

import sys

from cwm.core.cli import main

if __name__ == "__main__":
    main(["rl", *sys.argv[1:]])
