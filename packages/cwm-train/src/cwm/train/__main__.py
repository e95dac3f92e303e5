"""``python -m cwm.train ARGS`` is ``cwm train ARGS`` (for ``torchrun -m cwm.train ...``)."""

import sys

from cwm.core.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
