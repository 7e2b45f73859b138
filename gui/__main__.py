import sys

from eventscope.gui.main import main

sys.exit(main())
