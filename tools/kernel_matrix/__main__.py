"""``python -m tools.kernel_matrix``: the same as running run.py."""

import sys

from tools.kernel_matrix.run import main

sys.exit(main())
