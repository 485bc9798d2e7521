import sys

from release.monitor.cli import main

sys.exit(main())
