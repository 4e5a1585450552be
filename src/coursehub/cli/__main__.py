"""`python -m coursehub.cli`: the `coursehub` command."""

import sys

from coursehub.cli.main import main

sys.exit(main())
