"""Video restoration without flicker: stream frames, track faces, smooth their landmarks, restore, write atomically.

Per frame, in this order (:func:`restore_frames`):

1. Read: a video file (``cv2.VideoCapture``) or a folder of frames (sorted by name), one frame at a time
   (:func:`open_frames`); nothing holds the whole clip.
2. Detect the 5 landmarks of every face (``FaceRestorer.detect_landmarks``, or any ``detector(image, index)``).
3. Track (:class:`FaceTracker`): each detection joins the track whose predicted face box overlaps it most (Hungarian
   assignment on 1 - IoU, IoU >= ``min_iou``); an unmatched detection starts a track; a track survives up to
   ``max_missed`` frames without a detection.
4. Smooth each track's landmarks (:class:`LandmarkStabilizer`): a one-euro filter (default; causal), a Savitzky-Golay
   fit over a centred window (``window`` frames of look-ahead) or none. A gap of at most ``max_missed`` frames inside
   a track is filled by linear interpolation of the smoothed landmarks on both sides, so a detector that misses a face
   for a frame does not make the restored face blink. Frames wait in a bounded buffer of ``delay`` frames
   (``max_missed``, + ``window // 2`` for savgol) until their landmarks are final.
5. Restore: ``FaceRestorer.enhance(frame, landmarks=smoothed)`` (alignment, generator, paste-back, as for a photo).
6. Write (:func:`restore_video`): a temporary video beside the final name (``cv2.VideoWriter``, mp4v, the source's
   fps, the upscaled size); when complete, ffmpeg (``imageio_ffmpeg`` or ``ffmpeg`` on PATH) re-encodes it to H.264
   and copies the source's audio; then the file is renamed into place. An interrupted or failed run leaves nothing
   under the final name and removes its temporary files, on SIGTERM too (only SIGKILL can leave a hidden
   ``.*.tmp.mp4``).

Units: landmarks are (5,2) float32 (x, y) image pixels, ordered left eye, right eye, nose, left and right mouth
corner. Speeds inside the one-euro filter are measured in *face sizes per second*, where the face size is the side,
in image pixels, of the FFHQ-aligned crop the landmarks define (:func:`face_size`), so one set of parameters works for
a 60 px face and a 600 px one. Images are OpenCV-style BGR numpy arrays (uint8, or uint16 / gray / BGRA from a folder).
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import subprocess
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from gfpgan.data.image_io import BadImageError
from gfpgan.inference import FFHQ_TEMPLATE_512
from gfpgan.registry import OptionError
from gfpgan.utils.files import atomic_imwrite

__all__ = [
    "FRAME_EXTENSIONS",
    "SMOOTHING_METHODS",
    "VIDEO_EXTENSIONS",
    "BadVideoError",
    "FaceTracker",
    "Frame",
    "FrameSource",
    "LandmarkStabilizer",
    "OneEuroFilter",
    "RestoredFrame",
    "SmoothingOptions",
    "VideoResult",
    "face_size",
    "find_ffmpeg",
    "is_video_file",
    "open_frames",
    "restore_frames",
    "restore_video",
]

logger = logging.getLogger("gfpgan.video")

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
SMOOTHING_METHODS = ("none", "one-euro", "savgol")
DEFAULT_FOLDER_FPS = 25.0
SAVGOL_POLYORDER = 2  # local quadratic: follows accelerating motion without the lag of a moving average

# RMS distance of the FFHQ template's 5 points from their centroid, in units of the aligned crop's side.
_TEMPLATE_RMS = float(np.sqrt(((FFHQ_TEMPLATE_512 - FFHQ_TEMPLATE_512.mean(0)) ** 2).sum(1).mean()) / 512.0)


class BadVideoError(BadImageError):
    """A video file or folder of frames that cannot be read (bad input: exit code 2 in the command line)."""


def is_video_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a video file by its extension (:data:`VIDEO_EXTENSIONS`, case-insensitive)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def face_size(points: np.ndarray) -> float:
    """Side in image pixels of the FFHQ-aligned crop defined by 5 landmarks (5,2) (x, y).

    The RMS distance of the points from their centroid over the template's (rotation-invariant, uses all 5 points,
    so one noisy landmark moves it little). A face filling a 512 px aligned crop has size ~512 / upscale of its crop.
    """
    points = np.asarray(points, dtype=np.float64).reshape(5, 2)
    rms = float(np.sqrt(((points - points.mean(0)) ** 2).sum(1).mean()))
    return max(rms / _TEMPLATE_RMS, 1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# Smoothing


@dataclass(frozen=True)
class SmoothingOptions:
    """How landmarks are tracked and smoothed over time (the ``--smooth*`` / ``--max-missed`` options).

    Attributes:
        method: "one-euro" (default; causal, adapts to speed), "savgol" (Savitzky-Golay: a quadratic fitted over a
            centred window of ``window`` frames; smoother at equal lag, needs ``window // 2`` frames of look-ahead)
            or "none" (raw detections; tracking and gap filling still apply).
        min_cutoff: one-euro cutoff frequency at rest, Hz. Lower = steadier still faces, more lag on slow motion.
        beta: one-euro speed coefficient, per (face size / second): the cutoff rises by ``beta`` Hz for every face
            size per second of landmark speed, so moving faces follow with little lag. Higher = less lag, more jitter
            in motion.
        d_cutoff: one-euro cutoff of the speed estimate, Hz.
        window: savgol window in frames (odd, >= 3; at 25 fps, 9 frames = 0.36 s).
        max_missed: frames a track survives without a detection; such gaps are filled by interpolation.
        min_iou: minimum IoU between a track's predicted face box and a detection's to associate them.
    """

    method: str = "one-euro"
    min_cutoff: float = 1.0
    beta: float = 4.0
    d_cutoff: float = 1.0
    window: int = 9
    max_missed: int = 3
    min_iou: float = 0.3

    def __post_init__(self) -> None:
        if self.method not in SMOOTHING_METHODS:
            raise OptionError(f"--smooth must be one of {', '.join(SMOOTHING_METHODS)}, got {self.method!r}.")
        if not self.min_cutoff > 0 or not self.d_cutoff > 0:
            cutoffs = f"{self.min_cutoff}, {self.d_cutoff}"
            raise OptionError(f"--smooth-min-cutoff and --smooth-d-cutoff must be > 0 Hz, got {cutoffs}.")
        if self.beta < 0:
            raise OptionError(f"--smooth-beta must be >= 0, got {self.beta}.")
        if self.window < 3 or self.window % 2 == 0:
            raise OptionError(f"--smooth-window must be an odd number of frames >= 3, got {self.window}.")
        if self.max_missed < 0:
            raise OptionError(f"--max-missed must be >= 0, got {self.max_missed}.")
        if not 0 < self.min_iou <= 1:
            raise OptionError(f"min_iou must be in (0, 1], got {self.min_iou}.")

    @property
    def delay(self) -> int:
        """Frames of look-ahead before a frame's landmarks are final (the size of the frame buffer, minus one)."""
        return self.max_missed + (self.window // 2 if self.method == "savgol" else 0)


def _smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Exponential smoothing factor of a first-order low-pass at ``cutoff`` Hz sampled every ``dt`` s."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """The one-euro filter (Casiez, Roussel, Vogel, CHI 2012): a low-pass whose cutoff rises with speed. Streaming,
    causal, for arrays of any fixed shape.

    ``cutoff = min_cutoff + beta * speed`` where ``speed`` is the low-passed (at ``d_cutoff``) derivative's magnitude:
    elementwise ``|dx/dt|`` as in the paper, or ``speed(dx_dt, x_prev)`` when given (a scalar makes one shared cutoff,
    e.g. :func:`landmark_speed` so that a face's 5 points move rigidly and speed is in face sizes per second).

    Args:
        min_cutoff: cutoff at rest, Hz.
        beta: speed coefficient, Hz per speed unit.
        d_cutoff: cutoff of the derivative's low-pass, Hz.
        speed: optional ``(dx_dt, x_prev) -> speed`` (scalar or array broadcastable to x).
    """

    def __init__(
        self,
        min_cutoff: float = 1.0,
        beta: float = 0.0,
        d_cutoff: float = 1.0,
        speed: Callable[[np.ndarray, np.ndarray], np.ndarray | float] | None = None,
    ) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.speed = speed
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter the sample ``x`` taken at time ``t`` seconds (strictly after the previous one); returns float64."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        if dt <= 0:
            raise ValueError(f"one-euro filter: time must increase, got {t} after {self._t}.")
        a_d = _smoothing_factor(self.d_cutoff, dt)
        dx = a_d * (x - self._x) / dt + (1 - a_d) * self._dx
        speed = np.abs(dx) if self.speed is None else self.speed(dx, self._x)
        a = _smoothing_factor(self.min_cutoff + self.beta * speed, dt)
        self._x = a * x + (1 - a) * self._x
        self._dx, self._t = dx, t
        return self._x.copy()


def landmark_speed(dx_dt: np.ndarray, points: np.ndarray) -> float:
    """RMS speed of 5 landmarks (5,2) in face sizes per second (one shared cutoff: the face stays rigid)."""
    return float(np.sqrt((dx_dt**2).sum(-1).mean())) / face_size(points)


def savgol_value(frames: np.ndarray, values: np.ndarray, at: int, polyorder: int = SAVGOL_POLYORDER) -> np.ndarray:
    """Savitzky-Golay estimate at frame ``at``: a least-squares polynomial of ``polyorder`` (lowered when there are
    too few samples) fitted to ``values`` (N, ...) observed at ``frames`` (N,), evaluated at ``at``.

    Missing frames inside the window and asymmetric windows (the ends of a track) are handled by the fit itself.
    """
    deg = min(polyorder, len(frames) - 1)
    flat = values.reshape(len(frames), -1)
    coeffs = np.polynomial.polynomial.polyfit(np.asarray(frames, np.float64) - at, flat, deg)
    return coeffs[0].reshape(values.shape[1:])


# ----------------------------------------------------------------------------------------------------------------------
# Tracking


def _face_box(points: np.ndarray) -> np.ndarray:
    """Square (x0, y0, x1, y1) of side :func:`face_size` centred on the landmarks' centroid."""
    centre = np.asarray(points, np.float64).reshape(5, 2).mean(0)
    half = face_size(points) / 2
    return np.concatenate([centre - half, centre + half])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _TrackState:
    last_frame: int
    points: np.ndarray  # (5,2) the last detection
    velocity: np.ndarray = field(default_factory=lambda: np.zeros((5, 2)))  # px per frame


class FaceTracker:
    """Associates each frame's detections with face tracks (identity over time).

    A track's face box is predicted at constant velocity (from its last two detections) and matched to the detections
    by the Hungarian algorithm on ``1 - IoU`` of the face boxes (:func:`face_size` squares); pairs with
    IoU < ``min_iou`` stay unmatched. An unmatched detection starts a new track (ids count up from 0); a track without a
    detection for more than ``max_missed`` consecutive frames ends.
    """

    def __init__(self, max_missed: int = 3, min_iou: float = 0.3) -> None:
        self.max_missed, self.min_iou = max_missed, min_iou
        self.tracks: dict[int, _TrackState] = {}
        self._next_id = 0

    def update(self, frame: int, detections: Sequence[np.ndarray]) -> list[int]:
        """Track ids of ``detections`` ((5,2) landmarks each) in frame ``frame`` (increasing); updates the tracks."""
        from scipy.optimize import linear_sum_assignment

        self.tracks = {k: s for k, s in self.tracks.items() if frame - s.last_frame - 1 <= self.max_missed}
        ids = list(self.tracks)
        points = [np.asarray(p, np.float64).reshape(5, 2) for p in detections]
        assigned: list[int | None] = [None] * len(points)
        if ids and points:
            predicted = [_face_box(s.points + s.velocity * (frame - s.last_frame)) for s in self.tracks.values()]
            iou = np.array([[_iou(b, _face_box(p)) for p in points] for b in predicted])
            rows, cols = linear_sum_assignment(1.0 - iou)
            for r, c in zip(rows, cols):
                if iou[r, c] >= self.min_iou:
                    assigned[c] = ids[r]
        for i, p in enumerate(points):
            if assigned[i] is None:
                assigned[i] = self._next_id
                self.tracks[self._next_id] = _TrackState(frame, p)
                self._next_id += 1
            else:
                state = self.tracks[assigned[i]]
                state.velocity = (p - state.points) / (frame - state.last_frame)
                state.points, state.last_frame = p, frame
        return [int(i) for i in assigned]


@dataclass
class _Track:
    raw: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> detected (5,2)
    smooth: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> smoothed (5,2), computed once
    euro: OneEuroFilter | None = None


class LandmarkStabilizer:
    """Streaming tracking + temporal smoothing of every face's landmarks (see :class:`SmoothingOptions`).

    Push each frame's detections in order; the landmarks of frame ``t`` come out once frame ``t + delay`` has been
    pushed (or at :meth:`finish`), one (5,2) float32 array per face present in that frame, ordered by track id.
    Memory is bounded: a track keeps ``delay + window`` frames of history.

    Args:
        fps: frame rate (the one-euro filter's time base).
        options: smoothing and tracking options.
    """

    def __init__(self, fps: float, options: SmoothingOptions | None = None) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}.")
        self.fps = float(fps)
        self.options = options or SmoothingOptions()
        self.delay = self.options.delay
        self.tracker = FaceTracker(self.options.max_missed, self.options.min_iou)
        self._tracks: dict[int, _Track] = {}
        self._pushed = 0
        self._next_out = 0

    def push(self, detections: Sequence[np.ndarray]) -> list[tuple[int, list[np.ndarray]]]:
        """Add the next frame's detections; returns the ``(frame, landmarks)`` that became final (0 or 1 of them)."""
        frame = self._pushed
        o = self.options
        for track_id, points in zip(self.tracker.update(frame, detections), detections):
            track = self._tracks.setdefault(track_id, _Track())
            points = np.asarray(points, np.float64).reshape(5, 2)
            track.raw[frame] = points
            if o.method == "one-euro":
                if track.euro is None:
                    track.euro = OneEuroFilter(o.min_cutoff, o.beta, o.d_cutoff, speed=landmark_speed)
                track.smooth[frame] = track.euro(points, frame / self.fps)
        self._pushed += 1
        out = []
        while self._next_out <= self._pushed - 1 - self.delay:
            out.append(self._emit())
        return out

    def finish(self) -> Iterator[tuple[int, list[np.ndarray]]]:
        """The remaining frames' landmarks, after the last frame was pushed."""
        while self._next_out < self._pushed:
            yield self._emit()

    def _smoothed(self, track: _Track, frame: int) -> np.ndarray:
        if frame not in track.smooth:  # none: the detection; savgol: fitted once its window is known
            if self.options.method == "savgol":
                half = self.options.window // 2
                keys = [k for k in track.raw if abs(k - frame) <= half]
                track.smooth[frame] = savgol_value(np.array(keys), np.stack([track.raw[k] for k in keys]), frame)
            else:
                track.smooth[frame] = track.raw[frame]
        return track.smooth[frame]

    def _value(self, track: _Track, frame: int) -> np.ndarray | None:
        if frame in track.raw:
            return self._smoothed(track, frame)
        before = [k for k in track.raw if k < frame]
        after = [k for k in track.raw if k > frame]
        if not before or not after:
            return None
        t1, t2 = max(before), min(after)
        if t2 - t1 - 1 > self.options.max_missed:
            return None
        w = (frame - t1) / (t2 - t1)
        return (1 - w) * self._smoothed(track, t1) + w * self._smoothed(track, t2)

    def _emit(self) -> tuple[int, list[np.ndarray]]:
        frame = self._next_out
        self._next_out += 1
        landmarks = []
        for track_id in sorted(self._tracks):
            value = self._value(self._tracks[track_id], frame)
            if value is not None:
                landmarks.append(value.astype(np.float32))
        # Keep what later frames may still read: gap ends (max_missed + 1 back) and their savgol windows.
        oldest = frame + 1 - self.options.max_missed - 1 - self.options.window // 2
        for track_id in list(self._tracks):
            track = self._tracks[track_id]
            for store in (track.raw, track.smooth):
                for k in [k for k in store if k < oldest]:
                    del store[k]
            if not track.raw and track_id not in self.tracker.tracks:
                del self._tracks[track_id]
        return frame, landmarks


# ----------------------------------------------------------------------------------------------------------------------
# Reading


@dataclass
class Frame:
    """One frame of a clip: ``index`` from 0, ``name`` (the file name in a folder, else ``%06d.png``), ``image``."""

    index: int
    name: str
    image: np.ndarray


class FrameSource:
    """A clip read one frame at a time: a video file or a folder of frames (use :func:`open_frames`).

    Attributes:
        path: the file or folder.
        fps: frames per second (the container's; a folder's is given, default 25).
        num_frames: frame count when known (the container's count is an estimate for some formats), else None.
        width, height: size of the first frame, pixels.
        is_folder: a folder of frames.
    """

    def __init__(self, path: Path, fps: float, num_frames: int | None, first: np.ndarray, names: list[str] | None):
        self.path, self.fps, self.num_frames = path, fps, num_frames
        self.height, self.width = first.shape[:2]
        self.is_folder = names is not None
        self._first, self._names = first, names

    def __iter__(self) -> Iterator[Frame]:
        first, self._first = self._first, None
        if self.is_folder:
            yield from self._iter_folder(first)
        else:
            yield from self._iter_video()

    def _iter_folder(self, first: np.ndarray | None) -> Iterator[Frame]:
        for index, name in enumerate(self._names):
            image = first if index == 0 and first is not None else _read_frame(self.path / name)
            if image.shape[:2] != (self.height, self.width):
                size = f"{image.shape[1]}x{image.shape[0]}"
                raise BadVideoError(
                    f"{self.path / name}: frame size {size} differs from the first frame's {self.width}x{self.height}; "
                    "a clip's frames must share one size."
                )
            yield Frame(index, name, image)

    def _iter_video(self) -> Iterator[Frame]:  # reopened: the first frame is decoded again, in the stream
        cap = cv2.VideoCapture(str(self.path))
        try:
            index = 0
            while True:
                ok, image = cap.read()
                if not ok:
                    break
                yield Frame(index, f"{index:06d}.png", image)
                index += 1
        finally:
            cap.release()
        if self.num_frames is not None and index != self.num_frames:
            logger.info("%s: read %d frames (the container announced %d).", self.path.name, index, self.num_frames)


def _read_frame(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.dtype not in (np.uint8, np.uint16):
        raise BadVideoError(f"{path}: not a readable 8- or 16-bit image (a frame of the clip).")
    return img


def open_frames(path: str | os.PathLike, fps: float | None = None) -> FrameSource:
    """Open a video file or a folder of frames (:data:`FRAME_EXTENSIONS`, sorted by name) for streaming.

    Args:
        path: the clip.
        fps: a folder's frame rate (default 25); for a video file, used only when the container reports none.
    Raises:
        BadVideoError: naming the file when it cannot be opened or holds no frame.
    """
    path = Path(path)
    if fps is not None and not fps > 0:
        raise OptionError(f"--fps must be > 0, got {fps}.")
    if path.is_dir():
        names = sorted(f.name for f in path.iterdir() if f.is_file() and f.suffix.lower() in FRAME_EXTENSIONS)
        if not names:
            raise BadVideoError(f"{path}: no frames ({', '.join(FRAME_EXTENSIONS)}) in this folder.")
        return FrameSource(path, fps or DEFAULT_FOLDER_FPS, len(names), _read_frame(path / names[0]), names)
    if not path.is_file():
        raise FileNotFoundError(f"input {path} does not exist.")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise BadVideoError(f"{path}: not a readable video (OpenCV could not open it).")
        container_fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, first = cap.read()
    finally:
        cap.release()
    if not ok or first is None:
        raise BadVideoError(f"{path}: no frame could be decoded from this video.")
    if not (container_fps > 0 and math.isfinite(container_fps)):
        container_fps = fps or DEFAULT_FOLDER_FPS
        logger.warning("%s: the container reports no frame rate; using %g fps.", path.name, container_fps)
    return FrameSource(path, float(container_fps), count if count > 0 else None, first, None)


# ----------------------------------------------------------------------------------------------------------------------
# Restoration


@dataclass
class RestoredFrame:
    """A restored frame: the source frame, the smoothed landmarks used, the aligned crops, the restored crops and the
    whole restored image (``enhance``'s results)."""

    index: int
    name: str
    landmarks: list[np.ndarray]
    cropped: list[np.ndarray]
    restored: list[np.ndarray]
    image: np.ndarray


Detector = Callable[[np.ndarray, int], Sequence[np.ndarray]]


def restore_frames(
    restorer,
    frames: Iterable[Frame],
    fps: float,
    options: SmoothingOptions | None = None,
    detector: Detector | None = None,
    only_center_face: bool = False,
    weight: float | None = None,
) -> Iterator[RestoredFrame]:
    """Detect, track, smooth and restore the frames of a clip, in order, streaming (see the module docstring).

    Args:
        restorer: a ``gfpgan.inference.FaceRestorer``.
        frames: the clip's frames in order (e.g. a :class:`FrameSource`).
        fps: frame rate (time base of the one-euro filter).
        options: smoothing and tracking.
        detector: ``detector(image, index) -> [(5,2) landmarks, ...]``; default ``restorer.detect_landmarks``.
        only_center_face: keep only the face closest to the centre of each frame (before tracking).
        weight: fidelity blend of ``FaceRestorer.enhance``.
    Yields:
        one :class:`RestoredFrame` per input frame, in order; at most ``options.delay + 1`` frames are held.
    """
    stabilizer = LandmarkStabilizer(fps, options)
    if detector is None:

        def detector(image: np.ndarray, index: int) -> list[np.ndarray]:
            return restorer.detect_landmarks(image, only_center_face)

    pending: deque[Frame] = deque()

    def restore(index: int, landmarks: list[np.ndarray]) -> RestoredFrame:
        frame = pending.popleft()
        assert frame.index == index, (frame.index, index)
        cropped, restored, image = restorer.enhance(frame.image, landmarks=landmarks, weight=weight)
        return RestoredFrame(frame.index, frame.name, landmarks, cropped, restored, image)

    for frame in frames:
        pending.append(frame)
        for index, landmarks in stabilizer.push(detector(frame.image, frame.index)):
            yield restore(index, landmarks)
    for index, landmarks in stabilizer.finish():
        yield restore(index, landmarks)


# ----------------------------------------------------------------------------------------------------------------------
# Writing


def find_ffmpeg() -> str | None:
    """An ffmpeg binary: ``imageio_ffmpeg.get_ffmpeg_exe()`` (the ``gfpgan[video]`` extra), else ``ffmpeg`` on PATH."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return shutil.which("ffmpeg")


def _temporary_sibling(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix}")


def _has_audio(ffmpeg: str, path: Path) -> bool:
    result = subprocess.run([ffmpeg, "-hide_banner", "-i", str(path)], capture_output=True, text=True, check=False)
    return re.search(r"Stream #\S+.*: Audio:", result.stderr) is not None


def _to_bgr8(img: np.ndarray) -> np.ndarray:
    """Any frame (gray, BGR, BGRA; uint8/uint16) as BGR uint8 for the video encoder (alpha dropped)."""
    if img.dtype == np.uint16:
        img = np.rint(img / 257.0).astype(np.uint8)
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(img[:, :, :3])


class _VideoFileWriter:
    """cv2 writes mp4v to a hidden temporary sibling; :meth:`commit` re-encodes / muxes with ffmpeg (when there is
    one) into a second temporary and renames the result onto ``path``; :meth:`close` removes every temporary."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], audio_source: Path | None, codec: str) -> None:
        self.path, self.fps, self.size, self.audio_source, self.codec = path, fps, size, audio_source, codec
        self._tmp = _temporary_sibling(path, ".mp4")
        self._tmp_final = _temporary_sibling(path, path.suffix)
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self._writer.isOpened():
            self.close()
            raise OSError(f"{path}: OpenCV cannot write an mp4v video here ({size[0]}x{size[1]} at {fps:g} fps).")
        self.audio_copied = False
        self.encoded_codec = "mp4v"

    def write(self, img: np.ndarray) -> None:
        img = _to_bgr8(img)
        if (img.shape[1], img.shape[0]) != self.size:
            raise ValueError(f"frame size {img.shape[1]}x{img.shape[0]} differs from the video's {self.size}.")
        self._writer.write(img)

    def commit(self) -> None:
        self._writer.release()
        ffmpeg = find_ffmpeg()
        if ffmpeg is None:
            if self.audio_source is not None:
                logger.info(
                    "no ffmpeg found: %s is a silent mp4v video (any audio of %s was not copied); pip install "
                    '"gfpgan[video]" copies the audio and writes H.264.',
                    self.path.name,
                    self.audio_source.name,
                )
            os.replace(self._tmp, self.path)
            return
        audio = self.audio_source is not None and _has_audio(ffmpeg, self.audio_source)
        h264 = self.codec == "h264" or self.codec == "auto"
        if h264 and (self.size[0] % 2 or self.size[1] % 2):
            logger.info("%s: H.264 (yuv420p) needs an even size, not %dx%d; keeping mp4v.", self.path.name, *self.size)
            h264 = False
        if not (audio or h264):
            os.replace(self._tmp, self.path)
            return
        if h264:
            video_args = ["-c:v", "libx264", "-crf", "18", "-preset", "medium", "-pix_fmt", "yuv420p"]
        else:
            video_args = ["-c:v", "copy"]
        attempts = [["-c:a", "copy"], ["-c:a", "aac", "-b:a", "192k"], None] if audio else [None]
        for audio_args in attempts:
            cmd = [ffmpeg, "-y", "-hide_banner", "-loglevel", "error", "-i", str(self._tmp)]
            if audio_args is not None:
                cmd += ["-i", str(self.audio_source), "-map", "0:v:0", "-map", "1:a?", *audio_args, "-shortest"]
            else:
                cmd += ["-map", "0:v:0"]
            cmd += [*video_args, "-movflags", "+faststart", str(self._tmp_final)]
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if result.returncode == 0:
                self.audio_copied = audio_args is not None
                self.encoded_codec = "h264" if h264 else "mp4v"
                os.replace(self._tmp_final, self.path)
                if audio and audio_args is None:
                    source = self.audio_source.name
                    logger.warning(
                        "%s: the audio of %s could not be copied; the video is silent.", self.path.name, source
                    )
                return
            logger.debug("ffmpeg failed (%s): %s", " ".join(cmd), result.stderr.strip())
        message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit code {result.returncode}"
        logger.warning(
            "%s: ffmpeg failed (%s); keeping the mp4v video of OpenCV without audio.", self.path.name, message
        )
        os.replace(self._tmp, self.path)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
        self._tmp.unlink(missing_ok=True)
        self._tmp_final.unlink(missing_ok=True)


@dataclass
class VideoResult:
    """What :func:`restore_video` wrote: the video file and/or the frames folder, frame and face counts, whether the
    audio was copied, the video codec ("h264" / "mp4v"), the frame rate."""

    video: Path | None
    frames_dir: Path | None
    num_frames: int
    num_faces: int
    audio_copied: bool
    codec: str | None
    fps: float


def restore_video(
    restorer,
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    options: SmoothingOptions | None = None,
    *,
    fps: float | None = None,
    detector: Detector | None = None,
    only_center_face: bool = False,
    weight: float | None = None,
    output: str = "auto",
    codec: str = "auto",
    suffix: str | None = None,
    frames_ext: str = "auto",
    progress: bool = True,
) -> VideoResult:
    """Restore a clip (a video file or a folder of frames) into ``output_dir``.

    Args:
        restorer: a ``gfpgan.inference.FaceRestorer`` (its upscale, background upsampler, weights, noise apply).
        input_path: a video file or a folder of frames.
        output_dir: where to write ``<stem>[_<suffix>].mp4`` and/or the folder ``<stem>[_<suffix>]/`` of frames.
        options: smoothing and tracking (:class:`SmoothingOptions`).
        fps: frame rate of a folder of frames (default 25); a video file keeps its own.
        detector: landmark source ``(image, index) -> [(5,2), ...]``; default the restorer's RetinaFace.
        only_center_face, weight: as ``FaceRestorer.enhance``.
        output: "auto" (a video file -> video, a folder -> frames), "video", "frames" or "both".
        codec: "auto" (H.264 when ffmpeg is available, else mp4v), "h264" (requires ffmpeg) or "mp4v" (OpenCV's
            MPEG-4 part 2; plays in VLC/ffmpeg, not in most browsers).
        suffix: appended to the output names.
        frames_ext: "auto" (each frame keeps its name and extension; a video's frames are PNG), "png" or "jpg".
        progress: show a tqdm bar (frames, fps, ETA when the frame count is known).
    Returns:
        :class:`VideoResult`. The video appears under its final name only once complete (temporary sibling, renamed).
    """
    from tqdm import tqdm

    if output not in ("auto", "video", "frames", "both"):
        raise OptionError(f"--video-output must be auto, video, frames or both, got {output!r}.")
    if codec not in ("auto", "h264", "mp4v"):
        raise OptionError(f"--video-codec must be auto, h264 or mp4v, got {codec!r}.")
    if codec == "h264" and find_ffmpeg() is None:
        raise OptionError('--video-codec h264 needs ffmpeg: pip install "gfpgan[video]" (or put ffmpeg on PATH).')
    source = open_frames(input_path, fps)
    if output == "auto":
        output = "frames" if source.is_folder else "video"
    stem = source.path.stem if not source.is_folder else source.path.name
    name = f"{stem}_{suffix}" if suffix else stem
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    video_path = out_dir / f"{name}.mp4" if output in ("video", "both") else None
    frames_dir = out_dir / name if output in ("frames", "both") else None
    if frames_dir is not None and source.is_folder and frames_dir.resolve() == source.path.resolve():
        raise OptionError(f"the restored frames would overwrite the input frames in {frames_dir}; choose another -o.")
    if video_path is not None and video_path.resolve() == source.path.resolve():
        raise OptionError(f"the restored video would overwrite its input {video_path}; choose another -o or --suffix.")
    if frames_dir is not None:
        frames_dir.mkdir(exist_ok=True)

    size = (int(source.width * restorer.upscale), int(source.height * restorer.upscale))
    writer = None
    num_frames = num_faces = 0
    try:
        if video_path is not None:
            audio_source = None if source.is_folder else source.path
            writer = _VideoFileWriter(video_path, source.fps, size, audio_source, codec)
        frames = restore_frames(restorer, source, source.fps, options, detector, only_center_face, weight)
        bar = tqdm(total=source.num_frames, unit="frame", desc=source.path.name, disable=not progress)
        with bar:
            for result in frames:
                if writer is not None:
                    writer.write(result.image)
                if frames_dir is not None:
                    atomic_imwrite(frames_dir / _frame_name(result.name, frames_ext, result.image), result.image)
                num_frames += 1
                num_faces += len(result.restored)
                bar.update(1)
        if writer is not None:
            writer.commit()
    finally:
        if writer is not None:
            writer.close()
    return VideoResult(
        video=video_path,
        frames_dir=frames_dir,
        num_frames=num_frames,
        num_faces=num_faces,
        audio_copied=writer.audio_copied if writer else False,
        codec=writer.encoded_codec if writer else None,
        fps=source.fps,
    )


def _frame_name(name: str, ext: str, img: np.ndarray) -> str:
    stem, src_ext = os.path.splitext(name)
    extension = src_ext[1:] if ext == "auto" else ext
    if extension.lower() in ("jpg", "jpeg") and (img.dtype == np.uint16 or img.ndim == 3 and img.shape[2] == 4):
        extension = "png"  # JPEG holds neither alpha nor 16 bits
    return f"{stem}.{extension}"
