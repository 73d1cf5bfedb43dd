"""Score a policy in real physics (tracking score and more). Run with ``python`` or ``isaaclab.sh -p``; see --help."""

from rwm_tasks.cli.common import run_main
from rwm_tasks.cli.evaluate import main

if __name__ == "__main__":
    run_main(main)
