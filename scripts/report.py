"""Score runs in real physics and write report.md. Run with ``python`` or ``isaaclab.sh -p``; see --help."""

from rwm_tasks.cli.common import run_main
from rwm_tasks.cli.report import main

if __name__ == "__main__":
    run_main(main)
