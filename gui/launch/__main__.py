"""``python -m eventscope``: the same as the ``eventscope`` command."""

import sys

from eventscope.launcher import main

sys.exit(main())
