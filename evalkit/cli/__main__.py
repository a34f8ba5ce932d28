"""``python -m evalkit.cli`` (as ``torchrun -m evalkit.cli train`` needs): the ``evalkit`` command."""

import sys

from . import main

sys.exit(main())
