"""`python -m m3po_learning.cli` runs the `m3po` command."""

import sys

from m3po_learning.cli import main

sys.exit(main())
