"""``models``: list, download and verify the neural engine's model files."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from ..errors import EXIT_OK, InvalidInputError
from .flags import EXIT_CODES_HELP, add_log_level, add_models_dir

logger = logging.getLogger("facefusion")


def add_models_command(commands: Any) -> None:
    models = commands.add_parser("models", help="list, download and verify neural model files",
                                 description="The neural engine's model files: list the catalogue, download, verify.",
                                 epilog=EXIT_CODES_HELP)
    models.add_argument("action", choices=["list", "download", "verify"], help="what to do")
    models.add_argument("names", nargs="*", metavar="NAME", help="models to download (see `models list`)")
    models.add_argument("--all-defaults", action="store_true", help="download the default set of models")
    add_models_dir(models)
    add_log_level(models)


def models(args: argparse.Namespace) -> int:
    from ..inference.catalogue import CATALOGUE, DEFAULTS, with_companions
    from ..inference.download import download, model_path, models_dir, verify

    folder = models_dir(args.models_dir)
    if args.action == "list":
        print(f"{'name':<32}{'role':<20}{'file':<37}{'size':>9}  {'present':<8} licence")
        for entry in CATALOGUE:
            path = model_path(entry, folder)
            size = f"{path.stat().st_size / 1e6:.1f} MB" if path.is_file() else (
                f"{entry.size / 1e6:.1f} MB" if entry.size else "?")
            print(f"{entry.name:<32}{entry.role:<20}{entry.file:<37}{size:>9}  {'yes' if path.is_file() else 'no':<8} "
                  f"{entry.licence_label}")
        from ..inference.embedded import EMBEDDED, LICENCE, is_available

        for model in EMBEDDED:
            present = "embedded" if is_available(model) else "no"
            print(f"{model.name:<32}{'frame_enhancer':<20}{model.network + ' (x' + str(model.scale) + ')':<37}"
                  f"{'':>9}  {present:<8} {LICENCE}; {model.note}")
        print(f"models folder: {folder} (embedded models need no download; they are converted into "
              f"{folder / 'embedded'} on first use)")
        return EXIT_OK
    if args.action == "verify":
        states = [verify(entry, folder) for entry in CATALOGUE]
        for state in states:
            if state.state != "missing":
                print(f"{state.entry.file:<32}{state.state}")
        corrupt = [state.entry.file for state in states if state.state == "corrupt"]
        if corrupt:
            raise InvalidInputError(f"corrupt model file(s): {', '.join(corrupt)}; download them again")
        print(f"{sum(state.state == 'ok' for state in states)} verified, "
              f"{sum(state.state == 'unverified' for state in states)} without a recorded checksum, in {folder}")
        return EXIT_OK
    names = list(args.names) + (list(DEFAULTS) if args.all_defaults else [])
    if not names:
        raise InvalidInputError("name the models to download, or give --all-defaults")
    from tqdm import tqdm

    for entry in with_companions(names):
        with tqdm(desc=entry.file, unit="B", unit_scale=True, file=sys.stderr, disable=None) as bar:
            def progress(done: int, total: int | None) -> None:
                if total and bar.total != total:
                    bar.total = total
                bar.update(done - bar.n)
            path = download(entry, folder, progress=progress)
        logger.info("%s ready (%s)", path, entry.licence_label)
    return EXIT_OK
