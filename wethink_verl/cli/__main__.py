"""``python -m wethink_verl.cli`` = ``wethink-verl``."""

import sys

from . import main

sys.exit(main())
