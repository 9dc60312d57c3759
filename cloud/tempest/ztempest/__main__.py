import sys

from ztempest.cli import main

sys.exit(main())
