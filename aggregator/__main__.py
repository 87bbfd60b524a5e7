"""`python -m aggregator` = the `aggregator` command."""

import sys

from .cli import main

sys.exit(main())
