import sys

from realtime_gateway.cli import main

sys.exit(main())
