"""`python -m training <step>`: dispatches to the CLI without importing torch."""

import sys

from training.cli import main

if __name__ == "__main__":
    sys.exit(main())
