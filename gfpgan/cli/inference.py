"""``gfpgan-infer`` / ``scripts/inference.py``: restore the faces of an image, a folder of images, or a video.

Outputs (as the official ``inference_gfpgan.py``), under ``-o``:
  cropped_faces/<name>_<idx:02d>.png            aligned input faces
  restored_faces/<name>_<idx:02d>[_<suffix>].png restored faces
  cmp/<name>_<idx:02d>.png                      input | restored side by side
  restored_imgs/<name>[_<suffix>].<ext>         whole restored image (not with --aligned)
A video file (.mp4 .mov .avi .mkv .webm .m4v), or a folder of frames with ``--video``, is restored as one clip
(gfpgan/video.py: faces tracked, landmarks smoothed over time, docs/video.md):
  <stem>[_<suffix>].mp4                          restored video (H.264 + the source's audio when ffmpeg is available)
  <stem>[_<suffix>]/<frame names>                restored frames (a folder of frames; or --video-output frames/both)

Differences from the official script: ``--weight`` really blends restoration and input (default 1.0 = the official
pure restoration); noise is seeded (``--seed 0``) unless ``--random-noise``; images are read unchanged, so alpha,
16-bit and gray inputs keep their format; an unreadable file is reported and skipped, and the exit code is 1 when any
file failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gfpgan.utils.errors import run_main

__all__ = ["IMAGE_EXTENSIONS", "build_parser", "list_images", "main"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# --compile by default on CUDA from this many images / frames on (a one-time compilation of a minute or more); not
# measured on a GPU in this project yet. On the CPU compiling gains nothing over the default eager path.
COMPILE_AUTO_MIN_INPUTS = 200
logger = logging.getLogger("gfpgan.infer")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gfpgan-infer",
        description="Restore faces with GFPGAN (detect, align, restore, paste back).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "-i",
        "--input",
        required=True,
        help="an image file, a folder of images, a video file (.mp4 .mov .avi .mkv "
        ".webm .m4v) or, with --video, a folder of frames",
    )
    p.add_argument("-o", "--output", default="results", help="output folder")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument(
        "--model-path",
        help="generator checkpoint (.pth: params_ema, params or a raw state dict); its face size (512, or 1024 for a "
        "model trained with options/train_gfpgan_1024.yml) and arch are read from the weights: faces are aligned to "
        "that size and pasted back at --upscale",
    )
    weights.add_argument(
        "-v", "--version", choices=["1", "1.2", "1.3", "1.4"], default=None, help="official weights (default: 1.3)"
    )
    p.add_argument(
        "--arch", choices=["clean", "original", "bilinear"], default=None, help="default: inferred from the keys"
    )
    p.add_argument("-s", "--upscale", type=float, default=2, help="scale of the whole output image")
    p.add_argument("--aligned", action="store_true", help="inputs are aligned faces (no detection, no paste-back)")
    p.add_argument("--only-center-face", action="store_true", help="restore only the face closest to the centre")
    p.add_argument("--ext", choices=["auto", "png", "jpg"], default="auto", help="extension of restored_imgs")
    p.add_argument("--suffix", default=None, help="suffix of restored faces and images")
    p.add_argument(
        "-w", "--weight", type=float, default=1.0, help="weight*restored + (1-weight)*input; 1 = pure restoration"
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    p.add_argument("--batch-size", type=int, default=None, help="faces per generator forward (default: 4 on a GPU, "
                   "1 on the CPU, where larger batches are slower per face)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the (fixed) noise maps")
    p.add_argument("--random-noise", action="store_true", help="fresh random noise per call (official, stochastic)")
    p.add_argument("--no-parse", action="store_true", help="paste with a feathered square instead of the parse mask")
    p.add_argument("--colorize", action="store_true", help="keep colour output for grayscale inputs")
    p.add_argument("--det-model-path", default=None, help="RetinaFace weights (default: weights registry)")
    p.add_argument("--parse-model-path", default=None, help="ParseNet weights (default: weights registry)")
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="channels_last memory format for the generator (default: on the CPU, where it is faster)",
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"torch.compile the generator (a one-time compilation of a minute or more). Default: on for CUDA jobs "
        f"of at least {COMPILE_AUTO_MIN_INPUTS} images or frames when triton is present; off on the CPU, where the "
        "default eager path is as fast; --no-compile turns it off",
    )
    p.add_argument(
        "--bg_upsampler",
        "--bg-upsampler",
        default="auto",
        help="background upsampler: realesrgan (RealESRGAN_x2plus, as the official script), another Real-ESRGAN "
        "model (RealESRGAN_x4plus, realesr-general-x4v3, realesr-animevideov3), a Real-ESRGAN weights file, or none "
        "(Lanczos). auto: realesrgan on a GPU when its weights can be found or downloaded, none on the CPU (slow "
        "there: about 95 s of CPU time per input megapixel for realesrgan, 30 s for realesr-general-x4v3)",
    )
    p.add_argument(
        "--bg_tile", "--bg-tile", type=int, default=400, help="tile size of the background upsampler; 0 = whole image"
    )
    video = p.add_argument_group(
        "video",
        "a video file (by its extension), or a folder of frames with --video, is restored as one clip: "
        "faces are tracked across frames and their landmarks smoothed before alignment, so the restored faces do not "
        "flicker (docs/video.md)",
    )
    video.add_argument("--video", action="store_true", help="treat the input folder as the frames of one clip "
                       "(sorted by name)")  # fmt: skip
    video.add_argument("--fps", type=float, default=None, help="frame rate of a folder of frames (default 25); a "
                       "video file keeps its own")  # fmt: skip
    video.add_argument(
        "--video-output", choices=["auto", "video", "frames", "both"], default="auto",
        help="auto: a video file gives <stem>.mp4, a folder of frames gives the folder <stem>/ of restored frames "
        "with the same names",
    )  # fmt: skip
    video.add_argument(
        "--video-codec", choices=["auto", "h264", "mp4v"], default="auto",
        help="auto: H.264 (crf 18, yuv420p; plays in browsers) when ffmpeg is available (pip install "
        "\"gfpgan[video]\" or ffmpeg on PATH), else OpenCV's mp4v. ffmpeg also copies the source's audio",
    )  # fmt: skip
    video.add_argument(
        "--smooth", choices=["none", "one-euro", "savgol"], default="one-euro",
        help="temporal smoothing of each tracked face's 5 landmarks: one-euro (causal, adapts to speed), savgol "
        "(quadratic fit over --smooth-window frames centred on each frame: smoother, needs look-ahead) or none",
    )  # fmt: skip
    video.add_argument("--smooth-min-cutoff", type=float, default=1.0, help="one-euro cutoff at rest, Hz "
                       "(lower: steadier still faces, more lag)")  # fmt: skip
    video.add_argument("--smooth-beta", type=float, default=4.0, help="one-euro speed coefficient, Hz per face "
                       "size per second (higher: less lag in motion, more jitter); speeds are in face sizes, so the "
                       "defaults suit small and large faces alike")  # fmt: skip
    video.add_argument("--smooth-d-cutoff", type=float, default=1.0, help="one-euro cutoff of the speed, Hz")
    video.add_argument("--smooth-window", type=int, default=9, help="savgol window, frames (odd)")
    video.add_argument("--max-missed", type=int, default=3, help="frames a face track survives without a detection "
                       "(the gap is filled by interpolation, so the face keeps being restored)")  # fmt: skip
    return p


def list_images(path: Path) -> list[Path]:
    """``path`` itself, or the image files of the folder ``path`` (sorted by name)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
    raise FileNotFoundError(f"input {path} does not exist.")


def _write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"could not write {path} (shape {img.shape}, dtype {img.dtype}).")


def _save_faces(out_dir: Path, stem: str, suffix: str | None, cropped, restored) -> None:
    for idx, (crop, face) in enumerate(zip(cropped, restored)):
        name = f"{stem}_{idx:02d}"
        _write(out_dir / "cropped_faces" / f"{name}.png", crop)
        _write(out_dir / "restored_faces" / (f"{name}_{suffix}.png" if suffix else f"{name}.png"), face)
        _write(out_dir / "cmp" / f"{name}.png", np.concatenate([crop, face], axis=1))


def resolve_compile(requested: bool | None, inputs: int, device: str) -> bool:
    """``--compile`` / ``--no-compile`` as given. By default: on for CUDA jobs of ``COMPILE_AUTO_MIN_INPUTS`` images
    or frames and more, when triton is present; off on the CPU, where the default eager path (fused passes,
    channels_last) is as fast as the compiled one: 1.59 s against 1.59 s per 512 px face, after ~70 s of compilation
    (docs/benchmarks.md)."""
    if requested is not None:
        return requested
    if inputs < COMPILE_AUTO_MIN_INPUTS:
        return False
    from gfpgan.inference import resolve_device

    if resolve_device(device).type != "cuda" or importlib.util.find_spec("triton") is None:
        return False
    logger.info("%d inputs: compiling the generator (one-time; --no-compile to skip).", inputs)
    return True


def _restored_image_path(out_dir: Path, src: Path, suffix: str | None, ext: str, img: np.ndarray) -> Path:
    extension = src.suffix[1:] if ext == "auto" else ext
    if extension.lower() in ("jpg", "jpeg") and (img.ndim == 3 and img.shape[2] == 4 or img.dtype == np.uint16):
        logger.info("%s: alpha channel or 16-bit depth cannot be stored as JPEG; writing PNG.", src.name)
        extension = "png"
    return out_dir / "restored_imgs" / (f"{src.stem}_{suffix}.{extension}" if suffix else f"{src.stem}.{extension}")


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f"{path}: not a readable image.")
    if img.dtype not in (np.uint8, np.uint16):
        raise OSError(f"{path}: unsupported pixel type {img.dtype} (8- or 16-bit images only).")
    return img


def main(argv: Sequence[str] | None = None) -> int:
    """The command; every error is one line and an exit code (gfpgan/utils/errors.py; GFPGAN_DEBUG=1: traceback)."""
    return run_main(lambda: _main(argv))


def _main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from tqdm.contrib.logging import logging_redirect_tqdm

    from gfpgan.inference import FaceRestorer
    from gfpgan.utils.weights import WeightsNotFoundError
    from gfpgan.video import SmoothingOptions, is_video_file, open_frames

    input_path = Path(args.input)
    is_video = args.video or (input_path.is_file() and is_video_file(input_path))
    if is_video:
        if args.aligned:
            logger.error("--aligned cannot be used with a video input (%s).", input_path)
            return 2
        if not input_path.exists():
            logger.error("input %s does not exist.", input_path)
            return 2
        clip = open_frames(input_path, args.fps)  # before loading weights: an unreadable clip is one line, exit 2
        options = SmoothingOptions(
            method=args.smooth,
            min_cutoff=args.smooth_min_cutoff,
            beta=args.smooth_beta,
            d_cutoff=args.smooth_d_cutoff,
            window=args.smooth_window,
            max_missed=args.max_missed,
        )  # raises OptionError (one line, exit code 2) for a bad value
        files = []
    else:
        try:
            files = list_images(input_path)
        except FileNotFoundError as e:
            logger.error("%s", e)
            return 2
    if not files and not is_video:
        logger.error("no images (%s) in %s.", ", ".join(IMAGE_EXTENSIONS), args.input)
        return 2
    if args.batch_size is not None and args.batch_size < 1:
        logger.error("--batch-size must be >= 1, got %d.", args.batch_size)
        return 2
    bg_upsampler = None
    if not args.aligned and args.bg_upsampler != "none":
        from gfpgan.inference import resolve_device
        from gfpgan.upsample import BackgroundUpsampler

        auto = args.bg_upsampler == "auto"
        on_cpu = resolve_device(args.device).type == "cpu"
        if not (auto and on_cpu):  # the official script does not upsample the background on the CPU either
            name = "realesrgan" if auto else args.bg_upsampler
            try:
                bg_upsampler = BackgroundUpsampler(name, tile=args.bg_tile, tile_pad=10, pre_pad=0, device=args.device)
            except WeightsNotFoundError as e:
                if not auto:
                    logger.error("cannot load the background upsampler: %s", e)
                    return 2
                logger.warning("no Real-ESRGAN background (%s); the background is upscaled with Lanczos.", e)
            except (ValueError, OSError, RuntimeError) as e:
                logger.error("cannot load the background upsampler %s: %s", name, e)
                return 2
            if bg_upsampler is not None and on_cpu:
                logger.warning("%r on the CPU is slow; --bg_upsampler none upscales with Lanczos.", bg_upsampler)
    try:
        restorer = FaceRestorer(
            model_path=args.model_path,
            version=args.version,
            arch=args.arch,
            upscale=args.upscale,
            device=args.device,
            dtype=args.dtype,
            seed=None if args.random_noise else args.seed,
            use_parse=not args.no_parse,
            batch_size=args.batch_size,
            colorize=args.colorize,
            det_model_path=args.det_model_path,
            parse_model_path=args.parse_model_path,
            channels_last=args.channels_last,
            compile=resolve_compile(args.compile, (clip.num_frames or 0) if is_video else len(files), args.device),
            bg_upsampler=bg_upsampler,
        )
    except (WeightsNotFoundError, ValueError, OSError, RuntimeError) as e:  # RuntimeError: CheckpointError
        logger.error("cannot load the generator: %s", e)
        return 2
    out_dir = Path(args.output)
    weight = args.weight
    if is_video:
        return _restore_video(args, restorer, options)
    failed: list[str] = []
    num_faces = 0

    with logging_redirect_tqdm():
        if args.aligned:
            # Aligned faces are independent: batch them across files.
            chunks = [files[i : i + restorer.batch_size] for i in range(0, len(files), restorer.batch_size)]
            bar = tqdm(total=len(files), unit="img", desc="restoring")
            for chunk in chunks:
                imgs, names = [], []
                for path in chunk:
                    try:
                        imgs.append(_read(path))
                        names.append(path)
                    except OSError as e:
                        logger.error("%s", e)
                        failed.append(str(path))
                if imgs:
                    try:
                        faces, restored = restorer.restore_aligned(imgs, weight)
                        for path, face, rest in zip(names, faces, restored):
                            _save_faces(out_dir, path.stem, args.suffix, [face], [rest])
                        num_faces += len(faces)
                    except (OSError, ValueError, RuntimeError) as e:
                        logger.error("%s: %s", ", ".join(p.name for p in names), e)
                        failed += [str(p) for p in names]
                bar.update(len(chunk))
            bar.close()
        else:
            for path in tqdm(files, unit="img", desc="restoring"):
                try:
                    img = _read(path)
                    cropped, restored, restored_img = restorer.enhance(
                        img, only_center_face=args.only_center_face, weight=weight
                    )
                    if not cropped:
                        logger.info("%s: no face found; the image is only upscaled.", path.name)
                    _save_faces(out_dir, path.stem, args.suffix, cropped, restored)
                    num_faces += len(cropped)
                    _write(_restored_image_path(out_dir, path, args.suffix, args.ext, restored_img), restored_img)
                except WeightsNotFoundError as e:  # the detector's or parser's weights: every file would fail
                    logger.error("%s", e)
                    return 2
                except (OSError, ValueError, RuntimeError) as e:
                    logger.error("%s: %s", path, e)
                    failed.append(str(path))

    done = len(files) - len(failed)
    logger.info("%d of %d images done, %d faces restored; results in %s", done, len(files), num_faces, out_dir)
    if failed:
        logger.error("%d image(s) failed: %s", len(failed), ", ".join(failed))
        return 1
    return 0


def _restore_video(args: argparse.Namespace, restorer, options) -> int:
    """The video path of the command: one clip in, ``<stem>.mp4`` and/or a folder of frames out."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    from gfpgan.utils.weights import WeightsNotFoundError
    from gfpgan.video import restore_video

    try:
        with logging_redirect_tqdm():
            result = restore_video(
                restorer,
                args.input,
                args.output,
                options,
                fps=args.fps,
                only_center_face=args.only_center_face,
                weight=args.weight,
                output=args.video_output,
                codec=args.video_codec,
                suffix=args.suffix,
                frames_ext=args.ext,
            )
    except WeightsNotFoundError as e:  # the detector's or parser's weights
        logger.error("%s", e)
        return 2
    written = [str(p) for p in (result.video, result.frames_dir) if p is not None]
    details = f", {result.codec}{' + audio' if result.audio_copied else ''}" if result.video is not None else ""
    logger.info("%d frames at %g fps, %d faces restored%s: %s", result.num_frames, result.fps, result.num_faces,
                details, ", ".join(written))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
