"""Train a policy on an RWM task. Run with ``python``, ``isaaclab -p`` or ``isaaclab.sh -p``; see --help."""

from rwm_tasks.cli.common import run_main
from rwm_tasks.cli.train import main

if __name__ == "__main__":
    run_main(main)
