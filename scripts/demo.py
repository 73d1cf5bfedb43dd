"""Demo on the shipped policies and world model (``make demo``). Run with ``python``; see --help."""

from rwm_tasks.cli.common import run_main
from rwm_tasks.cli.demo import main

if __name__ == "__main__":
    run_main(main)
