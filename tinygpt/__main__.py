"""`python -m tinygpt ...`, the same as the `tinygpt` command: see tinygpt/cli.py."""

import sys

from .cli import main

sys.exit(main(prog="python -m tinygpt"))
