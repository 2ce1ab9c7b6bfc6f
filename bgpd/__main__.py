"""``python -m bgpd`` is the ``bgpd`` command."""

import sys

from bgpd.cli.main import main

sys.exit(main())
