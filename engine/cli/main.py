"""The `fes` command line: edit, transfer, reenact, animate, recognise, bench, models.

Every command writes its output atomically and exits non-zero with one clear line on bad input.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from engine.cli import animate, bench, edit, models, recognise, reenact, transfer
from engine.cli.common import quiet_native_stderr
from engine.errors import FesError

COMMANDS = (edit, transfer, reenact, animate, recognise, bench, models)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fes", description="Facial expression synthesis from the command line.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so every atomic output discards its temporary file
    exactly as for Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (0, 1 for bad input, 130 for Ctrl-C, 143 for SIGTERM)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args))
    except FesError as exc:
        print(f"fes {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except Terminated:
        print(f"fes {args.command}: terminated; nothing half-written was left", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"fes {args.command}: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The `fes` console script: :func:`main` with MediaPipe's native stderr lines hidden."""
    argv = sys.argv[1:]
    if not {"-v", "--verbose"} & set(argv):
        quiet_native_stderr()
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main(argv))


if __name__ == "__main__":
    entry()
