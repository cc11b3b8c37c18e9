"""The command line: ``facefusion headless-run -s SRC -t TARGET -o OUTPUT [options]``, one module per verb.

Flags are built from :mod:`facefusion.options` (see flags.py), so ``-h`` always lists every option with its
default and choices. Library errors become one-line messages and the exit codes below.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from ..console import quiet_native_logs
from ..errors import EXIT_FAILURE, EXIT_OK, EXIT_STOPPED, StudioError, storage_error
from ..version import __version__
from .flags import EXIT_CODES_HELP, options_from_args
from .live import add_live_command, live
from .models import add_models_command, models
from .run import add_run_commands, batch_run, headless_run
from .serve import add_serve_command, serve

__all__ = ["build_parser", "entry_point", "main", "options_from_args"]

logger = logging.getLogger("facefusion")


def _inspect(args: argparse.Namespace) -> int:
    import json

    from ..safety.inspect import inspect_file

    inspection = inspect_file(args.file)
    print(json.dumps(inspection.as_json(), indent=2) if args.json else "\n".join(inspection.report()))
    return EXIT_OK if inspection.marked else EXIT_FAILURE


VERBS: dict[str, Callable[[argparse.Namespace], int]] = {
    "headless-run": headless_run, "batch-run": batch_run, "inspect": _inspect, "serve": serve, "models": models,
    "live": live}


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (and exit code 2) instead of the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see {self.prog} -h)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="facefusion", description="Face-swap and face-enhancement studio (offline engine built in).",
        epilog=EXIT_CODES_HELP)
    parser.add_argument("-v", "--version", action="version", version=f"facefusion {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_run_commands(commands)
    add_live_command(commands)
    add_models_command(commands)
    inspect = commands.add_parser(
        "inspect", help="whether a file carries this product's invisible watermark, and what its metadata says",
        description="Reads a picture's or video's invisible watermark (this product's mark and the output id "
                    "its run logged) and its metadata (software, description, IPTC digital source type).",
        epilog="exit codes: 0 the watermark was found, 1 it was not, 2 the file cannot be read")
    inspect.add_argument("file", help="image or video to inspect")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    add_serve_command(commands)
    commands.add_parser("ui", help="the web app: `facefusion ui [app.py's flags]` (e.g. --server-name 0.0.0.0)",
                        add_help=False)
    commands.add_parser("system", help="what this installation can use: versions, ONNX Runtime providers, GPU, "
                        "the CUDA/cuDNN it needs, encoders, models present", epilog=EXIT_CODES_HELP)
    return parser


def _ui(arguments: list[str]) -> int:
    """The web app (app.py beside the package) with its own flags, e.g. `facefusion ui --server-name 0.0.0.0`."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    if not (root / "app.py").is_file():
        print("error: the web app (app.py) is not beside this installation; run it from a checkout", file=sys.stderr)
        return EXIT_FAILURE
    sys.path.insert(0, str(root))
    import app

    app.main(arguments)
    return EXIT_OK


def _configure_logging(level: str) -> None:
    names = {"error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}
    if level != "debug":
        quiet_native_logs()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(names[level])
    logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["ui"]:
        return _ui(arguments[1:])
    if arguments and arguments[0].startswith("-") and arguments[0] not in ("-h", "--help", "-v", "--version"):
        # FaceFusion's container command names no subcommand: `IMAGE -s SRC -t TARGET -o OUT --execution-provider …`
        arguments.insert(0, "headless-run")
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    _configure_logging(getattr(args, "log_level", "info"))
    try:
        if args.command == "system":
            from ..system import report

            print("\n".join(report()))
            return EXIT_OK
        return VERBS[args.command](args)
    except StudioError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("stopped by the user", file=sys.stderr)
        return EXIT_STOPPED
    except BrokenPipeError:  # the reader of our output went away (e.g. `| head`): nothing more to say
        return EXIT_OK
    except OSError as error:  # the disk or file system, where no step said so itself
        logger.debug("operating-system error", exc_info=True)
        print(f"error: {storage_error(error).message}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as error:  # a last guard: one line for people, the trace with --log-level debug
        logger.debug("unexpected error", exc_info=True)
        print(f"error: unexpected failure ({type(error).__name__}: {error}); run again with --log-level debug "
              "and report it", file=sys.stderr)
        return EXIT_FAILURE


def entry_point() -> None:
    sys.exit(main())
