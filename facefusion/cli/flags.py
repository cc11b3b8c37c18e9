"""Flags every processing command shares: the options (built from facefusion.options, so -h lists each with its
default and choices), resume, models folder, segment size, safety, log level."""
from __future__ import annotations

import argparse
import os
from typing import Any

from ..errors import InvalidInputError
from ..options import Options, make_options, option_kind, option_specs
from ..parts import SEGMENT_FRAMES
from ..safety.policy import add_safety_flags

FACEFUSION_SPELLINGS = {"processors": ["--frame-processors"], "execution_providers": ["--execution-provider"]}
"""FaceFusion's older flag names, accepted so that commands written for it run unchanged (also -s/-t/-o's
--source, --target, --output)."""
EXIT_CODES_HELP = ("exit codes: 0 done, 1 failure, 2 invalid input or options, 3 refused by a safety check, "
                   "4 stopped by the user")


def add_log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default="info", choices=["error", "warn", "info", "debug"],
                        help="how much to print (default: info)")


def add_option_flags(parser: argparse.ArgumentParser) -> None:
    defaults = Options()
    groups: dict[str, argparse._ArgumentGroup] = {}
    for name, spec in option_specs().items():
        group = groups.setdefault(spec.group, parser.add_argument_group(spec.group))
        default = getattr(defaults, name)
        shown = " ".join(map(str, default)) if isinstance(default, list) else default
        details = [f"default: {'none' if shown is None else shown}"]
        if spec.choices is not None:
            details.append(f"choices: {', '.join(map(str, spec.choices))}")
        elif spec.minimum is not None and spec.maximum is not None and spec.maximum >= 1e9:
            details.append(f"{spec.minimum:g} or more")
        elif spec.minimum is not None:
            details.append(f"range: {spec.minimum:g} to {spec.maximum:g}")
        if isinstance(default, bool):
            group.add_argument(spec.flag, dest=name, default=default, action=argparse.BooleanOptionalAction,
                               help=f"{spec.help} (default: {'on' if default else 'off'})")
            continue
        kind: Any = type(default[0]) if isinstance(default, list) else type(default)
        if default is None:
            kind = {"string": str, "number": float, "integer": int}.get(option_kind(name), str)
        group.add_argument(spec.flag, *FACEFUSION_SPELLINGS.get(name, []), dest=name, type=kind, default=default,
                           metavar=name.upper().split("_")[-1] if spec.choices is None else None,
                           choices=None if spec.accepts_onnx_path else spec.choices,
                           nargs="+" if spec.multiple else None,
                           help=f"{spec.help} ({'; '.join(details)})")


def add_models_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", default=None, metavar="FOLDER",
                        help="folder of neural model files (default: $FACEFUSION_MODELS_DIR or models/ in the "
                             "project)")


def use_models_dir(args: argparse.Namespace) -> None:
    """--models-dir, where the models are resolved (they read it from the environment)."""
    if args.models_dir:
        os.environ["FACEFUSION_MODELS_DIR"] = args.models_dir


def add_source_flags(group: argparse._ArgumentGroup) -> None:
    """The source photos and the face map, as every swapping command takes them."""
    group.add_argument("-s", "--source-paths", "--source", nargs="+", default=[], metavar="SOURCE",
                       help="source photo(s) of one person; several photos make one better identity")
    group.add_argument("--face-map", nargs="+", default=[], metavar="KEY=SOURCE",
                       help="give target faces their own sources: KEY is a position in --face-selector-order "
                            "(0, 1, ...) or a reference photo of that person; SOURCE is one or more photos "
                            "joined by commas, e.g. --face-map 0=alice.jpg 1=bob1.jpg,bob2.jpg")


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """What every processing command takes besides its paths: resume, models folder, all options."""
    parser.add_argument("--resume", dest="resume", action="store_true", default=True,
                        help="continue a video run that was stopped or killed, from its last complete segment "
                             "(the default: running the same command again does it)")
    parser.add_argument("--no-resume", dest="resume", action="store_false",
                        help="discard the saved part of an earlier run and start over")
    add_models_dir(parser)
    parser.add_argument("--video-segment-frames", type=int, default=SEGMENT_FRAMES, metavar="FRAMES",
                        help="frames per resumable segment of a video run: the most a crash can cost "
                             f"(default: {SEGMENT_FRAMES})")
    add_option_flags(parser)
    add_safety_flags(parser)
    add_log_level(parser)


def options_from_args(args: argparse.Namespace) -> Options:
    return make_options(**{name: getattr(args, name) for name in option_specs()})


def run_settings(args: argparse.Namespace) -> Options:
    """Options from the flags, with the settings every processing command shares checked and applied."""
    options = options_from_args(args)
    use_models_dir(args)
    if args.video_segment_frames < 1:
        raise InvalidInputError("--video-segment-frames: give 1 or more")
    return options
