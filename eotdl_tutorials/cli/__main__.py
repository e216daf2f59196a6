"""``python -m eotdl_tutorials.cli``: the command line, as the console script runs it."""

import sys

from eotdl_tutorials.cli import main

sys.exit(main())
