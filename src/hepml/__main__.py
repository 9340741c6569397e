"""Allow ``python -m hepml``."""

import sys

from hepml.cli import main

sys.exit(main())
