"""`python -m botgateway.reference`: see the package docstring."""

import sys

from .pages import main

sys.exit(main())
