import sys

from zcloud.cli import main

sys.exit(main())
