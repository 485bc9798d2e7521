import sys

from release.datacheck.cli import main

sys.exit(main())
