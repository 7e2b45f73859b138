"""``python -m eventscope``: the same as the ``eventscope`` command."""

import sys

from eventscope.gui.main import main

sys.exit(main())
