"""``python -m tpsmm.cli`` (and ``torchrun -m tpsmm.cli``) runs the ``tpsmm`` command."""

import sys

from tpsmm.cli import main

sys.exit(main())
