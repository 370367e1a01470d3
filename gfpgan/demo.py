"""``gfpgan-demo`` / ``python -m gfpgan.demo``: a local web page (Gradio) to restore the faces of one photo.

Upload a photo, choose the model version, the output scale, the background upsampler and the fidelity weight; the page
shows the input and the result side by side (an image slider where the installed Gradio has one), the aligned input
and restored face crops, a status line (faces, time, device) and the restored image as a PNG to download.

The restoration itself is :func:`restore` (and :func:`run_request`, which formats its result for the page): plain
functions on numpy images that do not import Gradio, so they are tested without it. Gradio is imported only by
:func:`build_app` / :func:`main`; without it the command says ``pip install "gfpgan[demo]"``.

Weights come from the registry (``gfpgan.utils.weights``: ``$GFPGAN_WEIGHTS_DIR`` = ``--weights-dir``,
``experiments/pretrained_models``, the cache, downloaded on first use unless ``GFPGAN_OFFLINE=1``); ``--model-path``
adds a local generator checkpoint as the version "custom". Missing files are listed at start, in the terminal and at
the top of the page, each with the file to download and the folder to put it in; a request that needs one shows the
same message in the status line instead of failing.

The server only listens on ``--host`` (default 127.0.0.1); no share link is made and Gradio's analytics are off.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from gfpgan.utils.errors import run_main
from gfpgan.utils.weights import KNOWN_WEIGHTS, WeightFile, WeightsNotFoundError, get_weights_path, missing_hint

__all__ = [
    "BG_UPSAMPLERS",
    "CUSTOM_VERSION",
    "DemoError",
    "RestoreResult",
    "RestorerCache",
    "build_app",
    "build_parser",
    "main",
    "missing_weights",
    "missing_weights_message",
    "restore",
    "run_request",
]

logger = logging.getLogger("gfpgan.demo")

# The official versions of gfpgan.inference.VERSIONS (repeated so this module imports without torch models; a unit
# test checks they agree): version -> weights registry name.
OFFICIAL_VERSIONS = {"1": "GFPGANv1", "1.2": "GFPGANCleanv1-NoCE-C2", "1.3": "GFPGANv1.3", "1.4": "GFPGANv1.4"}
CUSTOM_VERSION = "custom"
DEFAULT_VERSION = "1.3"  # the CLI's default
# "none" = Lanczos; "realesrgan" = RealESRGAN_x2plus (the official --bg_upsampler realesrgan); two other released
# Real-ESRGAN models (gfpgan.upsample.KNOWN_MODELS).
BG_UPSAMPLERS = ("none", "realesrgan", "realesr-general-x4v3", "RealESRGAN_x4plus")
DETECTOR_WEIGHTS = "detection_Resnet50_Final"
PARSER_WEIGHTS = "parsing_parsenet"
INSTALL_HINT = 'the web demo needs gradio: pip install "gfpgan[demo]"'


class DemoError(ValueError):
    """A request the page cannot serve (no image, a bad choice); shown in the status line."""


# ----------------------------------------------------------------------------------------------------------------------
# Restorers, built once per choice


class RestorerCache:
    """``FaceRestorer`` instances per (version, upscale, background upsampler), built on first use.

    Generators are loaded once per version and background upsamplers once per name, and shared by the restorers that
    use them; at most ``max_restorers`` restorers are kept (the least recently used one is dropped, with the detector
    and parser it loaded). Thread-safe: Gradio may call from several worker threads.

    Args:
        model_path: a local generator checkpoint offered as the version ``"custom"`` (and made the default).
        device: "auto" (cuda > mps > cpu), "cpu", "cuda", "mps".
        det_model_path, parse_model_path: explicit RetinaFace / ParseNet files (default: the weights registry).
        use_parse: paste faces back with the ParseNet mask (a feathered square when its weights are missing).
        seed: seed of the generator's noise maps (None: fresh noise per request, the official behaviour).
        bg_tile: tile size of the background upsampler (the CLI's 400; 0 = whole image).
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        device: str = "auto",
        det_model_path: str | os.PathLike | None = None,
        parse_model_path: str | os.PathLike | None = None,
        use_parse: bool = True,
        seed: int | None = 0,
        bg_tile: int = 400,
        max_restorers: int = 4,
    ) -> None:
        self.model_path = None if model_path is None else Path(model_path)
        self.device = device
        self.det_model_path = det_model_path
        self.parse_model_path = parse_model_path
        self.use_parse = use_parse
        self.seed = seed
        self.bg_tile = bg_tile
        self.max_restorers = max_restorers
        self._nets: dict[str, object] = {}
        self._bgs: dict[str, object] = {}
        self._restorers: collections.OrderedDict[tuple, object] = collections.OrderedDict()
        self._lock = threading.Lock()

    @property
    def versions(self) -> list[str]:
        """The version choices: ``"custom"`` first when ``model_path`` is set, then the official ones."""
        return ([CUSTOM_VERSION] if self.model_path is not None else []) + list(OFFICIAL_VERSIONS)

    @property
    def default_version(self) -> str:
        return CUSTOM_VERSION if self.model_path is not None else DEFAULT_VERSION

    def describe(self, version: str) -> str:
        """``"custom (my_model.pth)"`` / ``"1.3 (GFPGANv1.3.pth)"``: a version and its weights file, for messages."""
        if version == CUSTOM_VERSION:
            return f"custom ({self.model_path.name})" if self.model_path is not None else "custom (no --model-path)"
        return f"{version} ({KNOWN_WEIGHTS[OFFICIAL_VERSIONS[version]].filename})"

    def generator(self, version: str):
        """The generator of a version, loaded once (may raise ``WeightsNotFoundError``)."""
        if version not in self._nets:
            from gfpgan.inference import load_generator

            if version == CUSTOM_VERSION:
                if self.model_path is None:
                    raise DemoError("the version 'custom' needs --model-path.")
                net, _ = load_generator(self.model_path)
            elif version in OFFICIAL_VERSIONS:
                net, _ = load_generator(version=version)
            else:
                raise DemoError(f"unknown version {version!r}; choose one of {', '.join(self.versions)}.")
            self._nets[version] = net
        return self._nets[version]

    def _bg(self, name: str):
        if name == "none":
            return None
        if name not in BG_UPSAMPLERS:
            raise DemoError(f"unknown background upsampler {name!r}; choose one of {', '.join(BG_UPSAMPLERS)}.")
        if name not in self._bgs:
            from gfpgan.upsample import BackgroundUpsampler

            self._bgs[name] = BackgroundUpsampler(name, tile=self.bg_tile, tile_pad=10, pre_pad=0, device=self.device)
        return self._bgs[name]

    def get(self, version: str, upscale: float, bg: str = "none"):
        """The ``FaceRestorer`` of this choice (may raise ``WeightsNotFoundError`` naming the missing file)."""
        from gfpgan.inference import FaceRestorer

        key = (version, float(upscale), bg)
        with self._lock:
            if key in self._restorers:
                self._restorers.move_to_end(key)
                return self._restorers[key]
            restorer = FaceRestorer(
                net=self.generator(version),
                upscale=float(upscale),
                device=self.device,
                bg_upsampler=self._bg(bg),
                seed=self.seed,
                use_parse=self.use_parse,
                det_model_path=self.det_model_path,
                parse_model_path=self.parse_model_path,
            )
            self._restorers[key] = restorer
            while len(self._restorers) > self.max_restorers:
                self._restorers.popitem(last=False)
            return restorer


# ----------------------------------------------------------------------------------------------------------------------
# Missing weights


def _is_missing(name: str, local_path: str | os.PathLike | None = None) -> bool:
    try:
        get_weights_path(name, local_path=local_path, download=False)
    except WeightsNotFoundError:
        return True
    return False


def missing_weights(cache: RestorerCache) -> list[tuple[WeightFile, str]]:
    """The registry's weight files the page may need and cannot find locally: (entry, what it is needed for).

    Checked without downloading: the generator of every official version, the detector (whole images; not with
    "aligned input" or ``--det-model-path``), the parser (optional: a feathered square mask replaces it) and
    RealESRGAN_x2plus (only for the "realesrgan" background).
    """
    wanted = [(OFFICIAL_VERSIONS[v], f"version {v}") for v in OFFICIAL_VERSIONS]
    if cache.det_model_path is None:
        wanted.append((DETECTOR_WEIGHTS, "face detection in whole photos (not needed with 'aligned input')"))
    if cache.use_parse and cache.parse_model_path is None:
        wanted.append((PARSER_WEIGHTS, "optional: the face mask of the paste-back (else a feathered square)"))
    wanted.append(("RealESRGAN_x2plus", "optional: the 'realesrgan' background upsampler"))
    return [(KNOWN_WEIGHTS[name], purpose) for name, purpose in wanted if _is_missing(name)]


def missing_weights_message(cache: RestorerCache, markdown: bool = False) -> str:
    """What to download into which folder (``missing_hint``), one line per missing file; ``""`` when nothing is."""
    missing = missing_weights(cache)
    if not missing:
        return ""
    offline = os.environ.get("GFPGAN_OFFLINE", "0") in ("1", "true", "yes")
    when = "GFPGAN_OFFLINE=1: nothing is downloaded" if offline else "they are downloaded on first use when online"
    lines = []
    for entry, purpose in missing:
        if markdown:
            lines.append(f"- `{entry.filename}` ({purpose}): {missing_hint(entry)}")
        else:
            lines.append(f"  {entry.filename} ({purpose}): {missing_hint(entry)}")
    head = f"Weights not found locally ({when}); put them by hand:"
    return ("**" + head + "**" if markdown else head) + "\n" + "\n".join(lines)


def _default_needs_missing(cache: RestorerCache) -> bool:
    """Whether the default choice (default version, whole photo) lacks a file, so the page opens the list."""
    if cache.default_version == CUSTOM_VERSION:
        needed = []
    else:
        needed = [OFFICIAL_VERSIONS[cache.default_version]]
    if cache.det_model_path is None:
        needed.append(DETECTOR_WEIGHTS)
    return any(_is_missing(name) for name in needed)


# ----------------------------------------------------------------------------------------------------------------------
# One restoration, independent of Gradio


@dataclass
class RestoreResult:
    """What one restoration produced; every image is RGB uint8 (H,W,3) as numpy.

    Attributes:
        image: the restored image (``upscale`` x the input), or the restored face (out_size square) for aligned input.
        faces: (aligned input crop, restored crop) per face, each out_size square.
        seconds: wall time of the restoration (models already loaded are not reloaded).
        device: the device the generator ran on.
        description: version, scale and background, for the status line.
    """

    image: np.ndarray
    faces: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"
    description: str = ""


def _to_bgr(image: np.ndarray) -> np.ndarray:
    """An uploaded RGB (H,W,3), RGBA (H,W,4) or gray (H,W) uint8 image -> BGR uint8 (H,W,3)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise DemoError(f"expected an 8-bit image, got {image.dtype}.")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2BGR)
    raise DemoError(f"unsupported image shape {image.shape}; expected (H,W), (H,W,3) or (H,W,4).")


def _rgb(bgr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(bgr[:, :, ::-1])


def restore(
    image: np.ndarray | None,
    version: str,
    upscale: float,
    bg: str,
    weight: float,
    cache: RestorerCache,
    aligned: bool = False,
) -> RestoreResult:
    """Restore the faces of one uploaded image.

    Args:
        image: RGB (H,W,3), RGBA or gray uint8 numpy image (as Gradio's ``gr.Image(type="numpy")`` gives it).
        version: a choice of ``cache.versions`` ("1", "1.2", "1.3", "1.4", or "custom" for ``--model-path``).
        upscale: scale of the whole output image (1-4); not used for aligned input.
        bg: background upsampler, one of :data:`BG_UPSAMPLERS` ("none" = Lanczos); not used for aligned input.
        weight: fidelity blend ``weight * restored + (1 - weight) * input`` in [0, 1]; 1 = pure restoration.
        cache: the restorers, built on first use.
        aligned: the image is one aligned face (FFHQ 5-point alignment, resized to the generator's size): no
            detection, no paste-back; the result is the restored face.
    Raises:
        DemoError for a bad request, ``WeightsNotFoundError`` naming a missing weights file.
    """
    if image is None:
        raise DemoError("upload a photo first.")
    if not 0.0 <= float(weight) <= 1.0:
        raise DemoError(f"the fidelity weight must be in [0, 1], got {weight}.")
    if not 1 <= float(upscale) <= 4:
        raise DemoError(f"upscale must be between 1 and 4, got {upscale}.")
    bgr = _to_bgr(image)
    if aligned:
        bg, upscale = "none", 1  # one restorer for every aligned request of a version: neither is used
    restorer = cache.get(version, upscale, bg)
    start = time.perf_counter()
    cropped, restored, restored_img = restorer.enhance(bgr, has_aligned=aligned, weight=float(weight))
    seconds = time.perf_counter() - start
    result = restored[0] if aligned else restored_img
    if aligned:
        description = f"GFPGAN {cache.describe(version)}, aligned input"
    else:
        description = f"GFPGAN {cache.describe(version)}, x{float(upscale):g}, background {bg}"
    return RestoreResult(
        image=_rgb(result),
        faces=[(_rgb(c), _rgb(r)) for c, r in zip(cropped, restored)],
        seconds=seconds,
        device=str(restorer.device),
        description=description,
    )


def _status(result: RestoreResult, aligned: bool) -> str:
    n = len(result.faces)
    h, w = result.image.shape[:2]
    if aligned:
        found = "aligned face restored"
    elif n == 0:
        found = "no face found: the image is only upscaled"
    else:
        found = f"{n} face{'s' if n != 1 else ''} found and restored"
    return f"{found}; {w}x{h} px in {result.seconds:.2f} s on {result.device} ({result.description})."


def run_request(
    image: np.ndarray | None,
    version: str,
    upscale: float,
    bg: str,
    weight: float,
    aligned: bool,
    cache: RestorerCache,
    out_dir: str | os.PathLike,
) -> tuple[tuple[np.ndarray, np.ndarray] | None, str | None, list[tuple[np.ndarray, str]], str]:
    """One click of the page, without Gradio: (before/after pair, PNG path, face gallery, status line).

    The before image is the input resized (bicubic) to the result's size, so the two can be compared pixel for pixel;
    the PNG is written into a new folder under ``out_dir``. Gallery items are ``(input crop | restored crop, caption)``.
    Errors (a bad request, missing weights, a model that fails) become the status line, never an exception.
    """
    try:
        result = restore(image, version, upscale, bg, weight, cache, aligned)
    except (DemoError, WeightsNotFoundError) as e:
        return None, None, [], f"**Error:** {e}"
    except (ValueError, OSError, RuntimeError) as e:  # a bad checkpoint (CheckpointError is a RuntimeError), OOM
        logger.exception("restoration failed")
        return None, None, [], f"**Error:** {type(e).__name__}: {e}"
    h, w = result.image.shape[:2]
    before = np.asarray(image)
    if before.ndim == 2:
        before = cv2.cvtColor(before, cv2.COLOR_GRAY2RGB)
    before = np.ascontiguousarray(before[:, :, :3])
    if before.shape[:2] != (h, w):
        before = cv2.resize(before, (w, h), interpolation=cv2.INTER_CUBIC)
    folder = Path(tempfile.mkdtemp(prefix="request-", dir=out_dir))
    path = folder / "restored.png"
    if not cv2.imwrite(str(path), result.image[:, :, ::-1]):
        return (before, result.image), None, [], f"**Error:** could not write {path}."
    gallery = [
        (np.concatenate([crop, face], axis=1), f"face {i + 1}: input | restored")
        for i, (crop, face) in enumerate(result.faces)
    ]
    return (before, result.image), str(path), gallery, _status(result, aligned)


# ----------------------------------------------------------------------------------------------------------------------
# The page


def _import_gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # never phone home
    try:
        import gradio as gr
    except ImportError as e:
        raise DemoError(INSTALL_HINT) from e
    return gr


def _gradio_major(gr) -> int:
    try:
        return int(gr.__version__.split(".")[0])
    except ValueError:
        return 0


def _parameters(cls) -> set[str]:
    import inspect

    return set(inspect.signature(cls.__init__).parameters)


def build_app(cache: RestorerCache, out_dir: str | os.PathLike):
    """The Gradio ``Blocks`` of the page (not launched). Uses ``gr.ImageSlider`` when the installed Gradio has it,
    else the input and the result as two images."""
    gr = _import_gradio()
    use_slider = hasattr(gr, "ImageSlider")
    missing = missing_weights_message(cache, markdown=True)
    with gr.Blocks(title="GFPGAN face restoration", analytics_enabled=False) as app:
        gr.Markdown(
            "## GFPGAN face restoration\n"
            "Upload a photo and press **Restore**: faces are detected, aligned, restored and pasted back into the "
            "upscaled image. Everything runs on this machine."
        )
        if missing:
            needed = _default_needs_missing(cache)
            count = len(missing_weights(cache))
            label = f"Weights not found: {count} file{'s' if count != 1 else ''} (which file to put where)"
            with gr.Accordion(label, open=needed, elem_id="weights-accordion"):
                gr.Markdown(missing, elem_id="missing-weights")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                image = gr.Image(label="Input photo", type="numpy", image_mode="RGB", height=340, elem_id="input")
                with gr.Row():
                    version = gr.Dropdown(
                        choices=[(cache.describe(v), v) for v in cache.versions],
                        value=cache.default_version,
                        label="Model version",
                        elem_id="version",
                    )
                    bg = gr.Dropdown(
                        choices=list(BG_UPSAMPLERS),
                        value="none",
                        label="Background upsampler (none = Lanczos)",
                        elem_id="bg",
                    )
                with gr.Row():
                    upscale = gr.Slider(1, 4, value=2, step=0.5, label="Upscale (whole image)", elem_id="upscale")
                    weight = gr.Slider(
                        0,
                        1,
                        value=1.0,
                        step=0.05,
                        label="Fidelity weight (1 = pure restoration, lower keeps more input; all models)",
                        elem_id="weight",
                    )
                aligned = gr.Checkbox(
                    value=False,
                    label="Aligned input: the photo is one aligned face crop (no detection)",
                    elem_id="aligned",
                )
                run = gr.Button("Restore", variant="primary", elem_id="run")
            with gr.Column(scale=1):
                if use_slider:
                    # max_height (Gradio 6) fits the whole image; an older slider gets a fixed height instead
                    size = {"max_height": 420} if "max_height" in _parameters(gr.ImageSlider) else {"height": 420}
                    compare = gr.ImageSlider(
                        label="Input | result (drag the slider)", type="numpy", format="png", elem_id="result",
                        interactive=False, **size,
                    )  # fmt: skip
                    outputs_images = [compare]
                else:
                    with gr.Row():
                        before = gr.Image(label="Input", type="numpy", format="png", height=340, interactive=False)
                        after = gr.Image(
                            label="Result", type="numpy", format="png", height=340, interactive=False, elem_id="result"
                        )
                    outputs_images = [before, after]
                status = gr.Markdown("Upload a photo, then press Restore.", elem_id="status")
                download = gr.File(label="Restored image (PNG)", interactive=False, elem_id="download")
        faces = gr.Gallery(
            label="Faces: aligned input | restored", columns=4, height="auto", format="png", elem_id="faces"
        )

        def on_run(img, ver, scale, bg_name, w, is_aligned):
            pair, path, gallery, text = run_request(img, ver, scale, bg_name, w, is_aligned, cache, out_dir)
            shown = (pair,) if use_slider else (pair if pair is not None else (None, None))
            return (*shown, path, gallery, text)

        run.click(
            on_run,
            inputs=[image, version, upscale, bg, weight, aligned],
            outputs=[*outputs_images, download, faces, status],
        )
    return app


# ----------------------------------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gfpgan-demo",
        description='A local web page to restore the faces of a photo (Gradio). Needs: pip install "gfpgan[demo]".',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on")
    p.add_argument(
        "--model-path", default=None, help="a local generator checkpoint, offered as the version 'custom' (selected)"
    )
    p.add_argument(
        "--weights-dir",
        default=None,
        help="folder of the official weight files (sets $GFPGAN_WEIGHTS_DIR: searched first, named in hints)",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    p.add_argument("--det-model-path", default=None, help="RetinaFace weights (default: weights registry)")
    p.add_argument("--parse-model-path", default=None, help="ParseNet weights (default: weights registry)")
    p.add_argument("--no-parse", action="store_true", help="paste with a feathered square instead of the parse mask")
    p.add_argument("--seed", type=int, default=0, help="seed of the (fixed) noise maps")
    p.add_argument("--random-noise", action="store_true", help="fresh random noise per request (official)")
    p.add_argument("--bg-tile", type=int, default=400, help="tile size of the background upsampler; 0 = whole image")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The command; errors are one line and an exit code (gfpgan/utils/errors.py)."""
    return run_main(lambda: _main(argv))


def _main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own requests to itself at start
    if args.weights_dir is not None:
        if not Path(args.weights_dir).is_dir():
            logger.error("--weights-dir %s is not a folder.", args.weights_dir)
            return 2
        os.environ["GFPGAN_WEIGHTS_DIR"] = str(Path(args.weights_dir).expanduser().absolute())
    for flag, path in (("--model-path", args.model_path), ("--det-model-path", args.det_model_path),
                       ("--parse-model-path", args.parse_model_path)):  # fmt: skip
        if path is not None and not Path(path).is_file():
            logger.error("%s %s does not exist.", flag, path)
            return 2
    try:
        gr = _import_gradio()
    except DemoError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cache = RestorerCache(
        model_path=args.model_path,
        device=args.device,
        det_model_path=args.det_model_path,
        parse_model_path=args.parse_model_path,
        use_parse=not args.no_parse,
        seed=None if args.random_noise else args.seed,
        bg_tile=args.bg_tile,
    )
    if args.model_path is not None:  # fail now, not on the first click, when the file is no generator
        try:
            cache.generator(CUSTOM_VERSION)
        except (ValueError, OSError, RuntimeError) as e:
            logger.error("--model-path %s: %s", args.model_path, e)
            return 2
    if missing := missing_weights_message(cache):
        logger.warning("%s", missing)
    out_dir = Path(tempfile.mkdtemp(prefix="gfpgan-demo-"))
    atexit.register(shutil.rmtree, out_dir, ignore_errors=True)
    app = build_app(cache, out_dir)
    logger.info("gfpgan-demo: http://%s:%d (Ctrl+C to stop)", args.host, args.port)
    launch = dict(server_name=args.host, server_port=args.port, share=False, inbrowser=False, show_error=True)
    if _gradio_major(gr) >= 5:
        launch["ssr_mode"] = False  # no Node server: one process, one port
    app.queue(default_concurrency_limit=1).launch(**launch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
