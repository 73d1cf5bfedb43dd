"""The RWM / RWM-U pipeline end to end (resumable). Run with ``python`` or ``isaaclab.sh -p``; see --help."""

from rwm_tasks.cli.common import run_main
from rwm_tasks.cli.pipeline import main

if __name__ == "__main__":
    run_main(main)
