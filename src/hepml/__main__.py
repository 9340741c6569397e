"""Allow ``python -m hepml``."""

import sys

from hepml.cli.app import main

sys.exit(main())
