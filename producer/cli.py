"""Command-line entry point of the producer service.

Each sub-command lives in its own module under ``producer.commands`` and exposes ``add_parser(subparsers)``
(registering itself with ``set_defaults(run=...)``). Errors a user can fix are reported in one line
(``error: ...``) with exit code 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("generate", "profile", "download", "replay", "simulate")


class UserError(Exception):
    """An error the user can fix (bad argument, missing file, unreachable broker): one line, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m producer",
                                     description="Generate, profile, download and replay Sparkify event logs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"producer.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"producer.commands.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (UserError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
