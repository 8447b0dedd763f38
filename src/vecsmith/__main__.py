"""`python -m vecsmith` runs the command line (the same as the `vecsmith` script)."""

from vecsmith.cli import main

main()
