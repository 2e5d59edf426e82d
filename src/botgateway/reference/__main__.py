"""`python -m botgateway.reference`: see the package docstring."""

import sys

from .readme import main

sys.exit(main())
