"""The ``eventsync`` command's entry point, outside the packages.

Loading the tool (the library, aiohttp, the providers: a few tenths of a second) is where
a Ctrl-C typed right after the command lands, and Python would print a traceback for it.
Importing the tool from here makes it an interruption like any other: one line, exit 130.
"""

import sys


def main() -> int:
    """Load the command line tool and run it (:func:`common._cli.main`)."""
    try:
        from common._cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("eventsync: interrupted\n")
        return 130  # common._cli's EXIT_INTERRUPTED, not importable here: what was interrupted
    return run()


if __name__ == "__main__":
    sys.exit(main())
