"""`python -m aggregator` = the `aggregator` command."""

import sys

from aggregator.cli.main import main

sys.exit(main())
