"""`m3po` command line: built-in subcommands plus plugins from the `m3po.commands` entry points."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from importlib.metadata import entry_points

from m3po_learning.checkpoint import CheckpointError
from m3po_learning.config import ConfigError

__all__ = ["main", "build_parser"]

BUILTIN = ("train", "eval", "finetune", "demo", "plot", "tasks")


def build_parser() -> argparse.ArgumentParser:
    """The `m3po` parser: the built-in subcommands, then any `m3po.commands` plugins.

    A plugin that fails to import is skipped (logged at debug level).
    """
    parser = argparse.ArgumentParser(
        prog="m3po",
        description="M3PO multi-task model-based RL: train in MuJoCo, evaluate, deploy on ROS 2.",
        epilog="Config keys: see src/m3po_learning/config.py; any key can be overridden as "
        "section.key=value (e.g. planner.num_samples=256 train.steps=5000).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in BUILTIN:
        importlib.import_module(f"m3po_learning.cli.{name}").add_parser(sub)
    # ROS-side commands (bringup, record) register through entry points so that this package
    # never imports ROS itself.
    for ep in entry_points(group="m3po.commands"):
        try:
            module = ep.load()
        except ImportError as exc:
            logging.getLogger(__name__).debug("plugin %s unavailable: %s", ep.name, exc)
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `m3po` with `argv` (default: sys.argv[1:]) and return the exit status.

    Config, checkpoint and input errors, and the operating system's (a full disk, a
    missing or unreadable file, no permission), print one line to stderr and return 2;
    Ctrl-C returns 130.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("OpenGL").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, CheckpointError, KeyError, ValueError, OSError) as exc:
        # ValueError covers the env layer's TaskSetError and UrdfError; OSError a full disk
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"m3po {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"m3po {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
