#!/usr/bin/env python
"""Train and evaluate the world model from dataset files (pure PyTorch, no Isaac Lab needed); see --help."""

from rwm_tasks.cli.common import run_main
from rwm_tasks.cli.world_model import build_parser, main  # noqa: F401  (build_parser: --help without running)

if __name__ == "__main__":
    run_main(main)
