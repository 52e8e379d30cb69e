"""Allows `python -m stash_dedupe`."""

import sys

from stash_dedupe.cli import main

sys.exit(main())
