"""``python -m asyncvm`` runs the ``asyncvm`` command."""

import sys

from asyncvm.tools import main

sys.exit(main())
