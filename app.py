"""The web UI: ``python app.py`` serves the studio on http://127.0.0.1:7860.

Also the app file of a Hugging Face Space (SPACE_ID set): there it binds as Spaces require.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "examples"))

from facefusion.safety.policy import SafetyPolicy, add_safety_flags, policy_from_args  # noqa: E402
from facefusion.ui.exposure import is_exposed  # noqa: E402  (light: no Gradio, no models)
from facefusion.units import parse_size  # noqa: E402

EXPOSED_LABEL = "AI-generated"
"""The visible label of an app others can reach, unless its operator chooses another."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    on_space = bool(os.environ.get("SPACE_ID"))
    parser = argparse.ArgumentParser(description="facefusion-studio web UI")
    parser.add_argument("--server-name", default="0.0.0.0" if on_space else "127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this computer only)")
    parser.add_argument("--server-port", type=int, default=int(os.environ.get("PORT", 7860)),
                        help="port (default: 7860)")
    parser.add_argument("--share", action="store_true", help="also open a temporary public link (72 hours)")
    parser.add_argument("--auth", metavar="USER:PASSWORD or FILE",
                        help="ask for a login: one user:password pair, or a file with one pair per line")
    parser.add_argument("--max-file-size", default="1gb", help="largest upload accepted (default: 1gb)")
    parser.add_argument("--upload-budget", default="20gb", type=parse_size,
                        help="most disk all uploads together may take; new uploads beyond it are refused with a "
                             "message (default: 20gb)")
    parser.add_argument("--upload-budget-per-client", default="2gb", type=parse_size,
                        help="most one visitor (one address) may upload in an hour (default: 2gb)")
    parser.add_argument("--forwarded-allow-ips", default=os.environ.get("FORWARDED_ALLOW_IPS"), metavar="ADDRESSES",
                        help="comma-separated addresses of proxies in front of the app whose X-Forwarded-For names "
                             "the visitor (login lockouts and upload budgets are per visitor); default: none, or "
                             "127.0.0.1 with --share (the share link's tunnel connects from this machine)")
    parser.add_argument("--queue-size", type=int, default=16, help="most requests waiting at once (default: 16)")
    parser.add_argument("--open-browser", action="store_true", help="open the page in the browser")
    parser.add_argument("--allow-model-downloads", action=argparse.BooleanOptionalAction, default=None,
                        help="let the page download models to this server (default: yes on 127.0.0.1, no when "
                             "the app is exposed: --share, a Space or another --server-name)")
    parser.add_argument("--output-label", default=None, metavar="TEXT",
                        help="visible label burnt into every result, e.g. 'AI-generated' (default: 'AI-generated' "
                             "when the app is exposed, and then the page cannot change it; none on 127.0.0.1); "
                             "'' for none")
    add_safety_flags(parser)
    args = parser.parse_args(argv)
    args.exposed = is_exposed(args.server_name, args.share, on_space)
    if args.forwarded_allow_ips is None:
        args.forwarded_allow_ips = "127.0.0.1" if args.share else ""
    if args.output_label is None:
        args.output_label = EXPOSED_LABEL if args.exposed else ""
    from facefusion.errors import InvalidInputError

    try:
        args.safety = policy_from_args(args)
        if args.safety.c2pa_cert and args.safety.c2pa_key:
            from facefusion.safety.provenance import load_credentials

            load_credentials(args.safety.c2pa_cert, args.safety.c2pa_key)  # a bad pair stops the app, not each run
    except InvalidInputError as error:
        parser.error(error.message)
    if args.allow_model_downloads is None:
        args.allow_model_downloads = not args.exposed
    return args


def read_credentials(value: str | None) -> list[tuple[str, str]] | None:
    if not value:
        return None
    lines = Path(value).read_text().splitlines() if Path(value).is_file() else [value]
    pairs = []
    for line in lines:
        if line.strip() and not line.startswith("#"):
            user, separator, password = line.strip().partition(":")
            if not separator or not user or not password:
                raise SystemExit(f"error: --auth: '{line.strip()}' is not user:password")
            pairs.append((user, password))
    return pairs


def example_media(folder: Path) -> list[list[object]]:
    """Source/target pairs a newcomer can click: photos shipped by installed packages and a short clip
    made from one of them."""
    from sample_media import astronaut, grace_hopper, make_clip

    folder.mkdir(parents=True, exist_ok=True)
    astronaut_copy = folder / "astronaut.png"
    hopper_copy = folder / "grace_hopper.jpg"
    shutil.copy(astronaut(), astronaut_copy)
    shutil.copy(grace_hopper(), hopper_copy)
    clip = folder / "astronaut_clip.mp4"
    if not clip.exists():
        make_clip(clip, frames=60, size=(640, 360), face_width=110)
    return [[[str(astronaut_copy)], str(hopper_copy)], [[str(hopper_copy)], str(astronaut_copy)],
            [[str(hopper_copy)], str(clip)]]


def create_app(output_dir: Path | None = None, allow_downloads: bool = True, safety: SafetyPolicy | None = None,
               output_label: str | None = None, marks_locked: bool = False):
    """The Blocks app and the engine it owns (close both when done). ``output_label``: the results' visible
    label; ``marks_locked``: the page can neither change it nor turn the watermark off (an app others can
    reach)."""
    from facefusion.ui.actions import Engine, new_output_dir
    from facefusion.ui.layout import build_ui

    engine = Engine(output_dir=output_dir or new_output_dir(), allow_downloads=allow_downloads,
                    safety=safety or SafetyPolicy(), output_label=output_label or None, marks_locked=marks_locked)
    demo = build_ui(engine, example_media(engine.output_dir / "examples"))
    return demo, engine


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    import logging

    from starlette.middleware import Middleware

    from facefusion.console import quiet_native_logs
    from facefusion.ui.asgi import trust_proxies
    from facefusion.ui.exposure import protect_page
    from facefusion.ui.layout import PAGE_CSS
    from facefusion.ui.logins import LoginThrottle
    from facefusion.ui.uploads import UploadBudget
    from facefusion.ui.webrtc import WhipEndpoint

    args = parse_args(argv)
    quiet_native_logs()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    from facefusion.ui.actions import new_output_dir

    output_dir = new_output_dir()
    # Uploads go inside the app's own folder (unless the operator chose a place), so they leave with it.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(output_dir / "uploads"))
    demo, engine = create_app(output_dir, allow_downloads=args.allow_model_downloads, safety=args.safety,
                              output_label=args.output_label, marks_locked=args.exposed)
    # `kill`, `docker stop` and systemd stop with SIGTERM: it takes the same way out as Ctrl+C, so the
    # results folder and the uploads are removed either way.
    signal.signal(signal.SIGTERM, _interrupt)
    demo.queue(default_concurrency_limit=1, max_size=args.queue_size)
    # Wrong passwords are slowed down and, repeated, locked out per client; uploads stay within their disk
    # budget; exposed, the page's own events answer only the page.
    trust_proxies(args.forwarded_allow_ips)
    middleware = [Middleware(WhipEndpoint, tokens=engine.live_tokens), Middleware(LoginThrottle),
                  Middleware(UploadBudget, budget=args.upload_budget, per_client=args.upload_budget_per_client)]
    if args.exposed:
        middleware.append(protect_page(demo, framed=bool(os.environ.get("SPACE_ID"))))
    try:
        demo.launch(server_name=args.server_name, server_port=args.server_port, share=args.share,
                    auth=read_credentials(args.auth), max_file_size=args.max_file_size, inbrowser=args.open_browser,
                    allowed_paths=[str(engine.output_dir)], footer_links=["api"], css=PAGE_CSS,
                    app_kwargs={"middleware": middleware})
    except KeyboardInterrupt:
        pass  # Ctrl+C or SIGTERM, wherever it lands (Gradio catches it only while it waits): a normal stop
    finally:
        engine.close()
        # Results and examples live in the app's own temporary folder: gone with the app.
        shutil.rmtree(engine.output_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
