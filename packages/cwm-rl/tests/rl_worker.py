"""``cwm`` with the test environment installed: ``python rl_worker.py rl --config ...``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import rl_run_fixtures

from cwm.core.cli import main

if __name__ == "__main__":
    rl_run_fixtures.install()
    main(sys.argv[1:])
