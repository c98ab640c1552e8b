"""``python -m convmath.cli``."""

import sys

from convmath.cli import main

sys.exit(main())
