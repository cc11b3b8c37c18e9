"""``live``: a camera's faces swapped while it films, sent to a stream, a virtual camera or a recording."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from ..errors import EXIT_OK, InvalidInputError, RefusedError
from ..options import Options
from ..safety.consent import require_consent
from ..safety.policy import add_safety_flags, policy_from_args
from ..types import FrameBGR
from .flags import (
    EXIT_CODES_HELP,
    add_log_level,
    add_models_dir,
    add_option_flags,
    add_source_flags,
    options_from_args,
    use_models_dir,
)
from .run import ctrl_c_stops

logger = logging.getLogger("facefusion")

CONSENT_QUESTION = ("The people whose faces this live run uses (the source photos' and the camera's) have agreed "
                    "to it, and viewers will be told that the picture is AI-generated. [y/N] ")


def add_live_command(commands: Any) -> None:
    live = commands.add_parser(
        "live", help="swap faces on a camera as it films; send the picture to a stream, a virtual camera or a file",
        description="Frames from a camera (or a video played as one) are swapped as they come; when the work "
                    "falls behind, frames are dropped, never queued. At the end one line gives frames in and out, "
                    "dropped, fps and the latency from capture to send.",
        epilog=EXIT_CODES_HELP + "; Ctrl-C ends a live run as planned (exit 0, a recording is finished)")
    paths = live.add_argument_group("live")
    add_source_flags(paths)
    paths.add_argument("--camera", required=True, metavar="SOURCE",
                       help="a camera (0, 1, ... or /dev/video0), or a video file or stream URL played as a camera "
                            "(a file plays at its own frame rate and loops)")
    paths.add_argument("--live-output", required=True, metavar="OUTPUT",
                       help="udp://HOST:PORT (an MPEG-TS stream for OBS's media source, ffplay or VLC), virtual or "
                            "v4l2:/dev/videoN (a virtual camera: `make live`, and v4l2loopback on Linux or OBS's "
                            "virtual camera elsewhere), or a file to record to (.mp4, .mov, .mkv, .webm)")
    paths.add_argument("--live-frames", type=int, default=None, metavar="N",
                       help="stop after N camera frames (default: until Ctrl-C or the end of a stream)")
    paths.add_argument("--reference-face-path", default=None, metavar="IMAGE",
                       help="a photo of the person to swap, for --face-selector-mode reference")
    paths.add_argument("--consent", action="store_true",
                       help="confirm that the people whose faces are used have agreed (asked on a terminal "
                            "when not given; required when there is no terminal)")
    add_models_dir(live)
    add_option_flags(live)
    add_safety_flags(live)
    add_log_level(live)


def live_settings(args: argparse.Namespace) -> Options:
    """The options, without the processors that cannot run live (each said in a warning)."""
    from ..live.session import live_options

    use_models_dir(args)
    if args.live_frames is not None and args.live_frames < 1:
        raise InvalidInputError("--live-frames: give 1 or more")
    options, notes = live_options(options_from_args(args))
    for note in notes:
        logger.warning(note)
    return options


def ask_consent(given: bool) -> None:
    """Consent before the camera starts: the flag, or a yes on the terminal."""
    agreed = given
    if not agreed and sys.stdin.isatty():
        agreed = input(CONSENT_QUESTION).strip().lower() in ("y", "yes")
    require_consent(agreed, "answer y, or give --consent")


def reference_frame(args: argparse.Namespace, first: FrameBGR) -> FrameBGR:
    """Where the reference face is (--face-selector-mode reference): the photo given, else the camera's first
    frame (as a video run takes the target's first frame)."""
    from ..media.image import read_image

    if args.reference_face_path:
        return read_image(args.reference_face_path).frame
    return first


def live(args: argparse.Namespace) -> int:
    from ..live import LiveRun, live_studio, open_camera, open_output
    from ..live.session import waits_for_reference
    from ..safety import audit
    from ..safety.gate import frame_marks
    from ..safety.watermark import format_id, new_output_id
    from ..video_plan import engine_description

    options = live_settings(args)
    ask_consent(args.consent)
    policy = policy_from_args(args)
    with live_studio(options, policy) as studio, ctrl_c_stops() as stop:
        watermark_id = new_output_id() if options.output_watermark else None
        camera = open_camera(args.camera)
        try:
            first = camera.read()
            if first is None:
                raise InvalidInputError(f"--camera {args.camera} gave no frame")
            plan = studio.plan(list(args.source_paths), reference_frame(args, first), list(args.face_map),
                               args.reference_face_path)
            if waits_for_reference(plan, options):
                raise InvalidInputError("no face in the camera's first frame to take as the reference face: face the "
                                        "camera as it starts, give --reference-face-path, or use "
                                        "--face-selector-mode one (or many)")
            output = open_output(args.live_output, [*args.source_paths, args.camera],
                                 {"encoder": "facefusion-studio", "comment": engine_description(studio, watermark_id)},
                                 camera.rate)
            run = LiveRun(studio, plan, camera, output, frame_marks(options, watermark_id), stop, args.live_frames)
            run.warm_up(first)
            output.start(first)
            logger.info("live: %s (%.0f fps) -> %s%s; Ctrl-C ends it", camera.description, camera.rate,
                        output.description,
                        "" if watermark_id is None else f"; watermark id {format_id(watermark_id)}")
            stats = run.run()
        except RefusedError as error:
            audit.record(policy.audit_log, "refused", sources=list(args.source_paths), target=args.camera,
                         reason=error.message)
            raise
        finally:
            camera.close()
        for note in (run.drawer.turned.note(), *studio.setup_warnings):
            if note:
                logger.warning(note)
    recording = output.description.startswith("recording ")
    audit.record(policy.audit_log, "written" if recording else "sent", sources=list(args.source_paths),
                 target=args.camera, output=args.live_output,
                 watermark_id=None if watermark_id is None else format_id(watermark_id))
    logger.info(stats.line())
    return EXIT_OK
