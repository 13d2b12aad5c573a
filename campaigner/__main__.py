"""`python -m campaigner`: the same as the `campaigner` command."""

from __future__ import annotations

import sys

from campaigner.cli import main

if __name__ == "__main__":  # not when a worker process imports it (campaigner.plan.workers)
    sys.exit(main())
