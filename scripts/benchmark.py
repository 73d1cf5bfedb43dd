#!/usr/bin/env python
"""Speed benchmarks of the world model and the MuJoCo executor; see --help."""

import sys

from rwm_tasks.cli.benchmark import build_parser, main  # noqa: F401  (build_parser: --help without running)

if __name__ == "__main__":
    sys.exit(main())
