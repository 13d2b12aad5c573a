"""`python -m campaigner`: the same as the `campaigner` command."""

from __future__ import annotations

import sys

from campaigner.cli import main

sys.exit(main())
