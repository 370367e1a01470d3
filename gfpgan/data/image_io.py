"""Image decoding and storage backends (folder, file list, LMDB) for the datasets.

Every image comes back as ``(H, W, 3) float32 in [0, 1], BGR`` (OpenCV channel order), whatever the file holds:
- 8-bit images are divided by 255, 16-bit images by 65535;
- grayscale images are repeated to 3 channels;
- RGBA / BGRA images lose their alpha channel (it is dropped, not composited: aligned face crops carry no useful
  transparency, and compositing would invent a background colour).
A file that cannot be decoded raises ``BadImageError`` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "BadImageError",
    "ImageStore",
    "decode_image",
    "list_images",
    "open_store",
    "read_image",
    "read_lmdb_keys",
    "write_lmdb",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class BadImageError(OSError):
    """An image file (or LMDB record) that is missing, unreadable or not a decodable image."""


def decode_image(data: bytes | np.ndarray, name: str = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes into ``(H, W, 3) float32 in [0, 1], BGR``.

    Args:
        data: the encoded file content (PNG, JPEG, ...).
        name: the file or key reported in errors.
    """
    buffer = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    img = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if buffer.size else None
    if img is None:
        raise BadImageError(f"{name}: not a readable image (empty, truncated or unknown format). Remove or replace it.")
    return _to_float_bgr(img, name)


def _to_float_bgr(img: np.ndarray, name: str) -> np.ndarray:
    if img.dtype == np.uint8:
        divisor = 255
    elif img.dtype == np.uint16:
        divisor = 65535
    elif img.dtype in (np.float32, np.float64):
        divisor = 1
    else:
        raise BadImageError(f"{name}: unsupported pixel type {img.dtype}; use 8- or 16-bit images.")
    if img.ndim == 2:
        img = img[:, :, None]
    channels = img.shape[2]
    if channels == 4:
        img = img[:, :, :3]  # alpha dropped (see module docstring)
    elif channels == 2:
        img = img[:, :, :1]  # gray + alpha
    elif channels != 3 and channels != 1:
        raise BadImageError(f"{name}: {channels} channels are not supported (expected gray, BGR or BGRA).")
    out = img.astype(np.float32)
    if divisor != 1:  # a division (not a multiplication by 1/255) gives exactly the nearest float to k/255
        out /= np.float32(divisor)
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return np.ascontiguousarray(out)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as ``(H, W, 3) float32 in [0, 1], BGR``; ``BadImageError`` names the file on failure."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise BadImageError(f"{path}: cannot read the file ({e.strerror or e}).") from e
    return decode_image(data, str(path))


def list_images(folder: str | os.PathLike) -> list[str]:
    """Sorted paths of the image files directly inside ``folder`` (by name, so the order never depends on the FS)."""
    return sorted(str(p) for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def read_lmdb_keys(root: str | os.PathLike) -> list[str]:
    """Keys of a BasicSR-layout LMDB: ``meta_info.txt`` lines ``name.png (h,w,c) level`` -> ``name`` (file order)."""
    meta = Path(root) / "meta_info.txt"
    if not meta.is_file():
        raise FileNotFoundError(
            f"{meta}: missing; a BasicSR LMDB folder holds data.mdb and meta_info.txt "
            "(make one with scripts/make_lmdb.py)."
        )
    keys = []
    for line in meta.read_text().splitlines():
        if line.strip():
            keys.append(line.split(" ")[0].rsplit(".", 1)[0])
    return keys


_LMDB_ENVS: dict[tuple[int, str], Any] = {}


def _lmdb_env(root: str) -> Any:
    """The read-only environment of ``root`` in this process (LMDB allows one per process and path)."""
    key = (os.getpid(), os.path.realpath(root))
    if key not in _LMDB_ENVS:
        import lmdb

        _LMDB_ENVS[key] = lmdb.open(root, readonly=True, lock=False, readahead=False, meminit=False)
    return _LMDB_ENVS[key]


class ImageStore:
    """Reads encoded images by name from one storage: a folder on disk or an LMDB (opened lazily per process).

    ``items`` are the names in dataset order: full file paths for disk/filelist, keys for LMDB.
    """

    def __init__(self, kind: str, root: str, items: Sequence[str]) -> None:
        self.kind = kind
        self.root = root
        self.items = list(items)
        self._env = None
        self._pid = None

    def __len__(self) -> int:
        return len(self.items)

    def stem(self, i: int) -> str:
        return Path(self.items[i]).stem if self.kind != "lmdb" else self.items[i]

    def name(self, i: int) -> str:
        """What ``*_path`` in a sample reports: the file path, or the LMDB key."""
        return self.items[i]

    def read_bytes(self, i: int) -> bytes:
        item = self.items[i]
        if self.kind != "lmdb":
            try:
                return Path(item).read_bytes()
            except OSError as e:
                raise BadImageError(f"{item}: cannot read the file ({e.strerror or e}).") from e
        if self._env is None or self._pid != os.getpid():  # one environment per (worker) process
            self._env = _lmdb_env(self.root)
            self._pid = os.getpid()
        with self._env.begin(write=False) as txn:
            data = txn.get(item.encode("ascii"))
        if data is None:
            raise BadImageError(f"{self.root}: key {item!r} listed in meta_info.txt is not in the LMDB.")
        return bytes(data)

    def read(self, i: int) -> np.ndarray:
        """Image ``i`` as ``(H, W, 3) float32 in [0, 1], BGR``."""
        where = self.items[i] if self.kind != "lmdb" else f"{self.root}[{self.items[i]}]"
        return decode_image(self.read_bytes(i), where)

    def __getstate__(self) -> dict[str, Any]:  # LMDB environments do not pickle; reopen in the worker
        state = dict(self.__dict__)
        state["_env"] = None
        state["_pid"] = None
        return state


def open_store(root: str, io_backend: Mapping[str, Any], where: str, option: str = "dataroot_gt") -> ImageStore:
    """Build an ImageStore from a dataset root and its ``io_backend`` option block.

    ``io_backend.type``: ``disk`` (sorted image files of the folder), ``lmdb`` (BasicSR layout: ``data.mdb`` +
    ``meta_info.txt``), or ``filelist`` (``meta_info_file``: a text file with one image path per line, relative to the
    root unless absolute; the first whitespace-separated token of each line is used).
    """
    kind = io_backend.get("type")
    if not Path(root).exists():
        raise FileNotFoundError(f"{where}.{option}: {root} does not exist. Check the path (or prepare the data).")
    if kind == "disk":
        items = list_images(root)
    elif kind == "lmdb":
        if not (Path(root) / "data.mdb").is_file():
            raise FileNotFoundError(f"{where}.{option}: {root} is not an LMDB folder (no data.mdb).")
        items = read_lmdb_keys(root)
    elif kind == "filelist":
        list_file = io_backend.get("meta_info_file") or io_backend.get("list_file")
        if not list_file:
            raise ValueError(f"{where}.io_backend: type filelist needs 'meta_info_file' (a text file of image paths).")
        if not Path(list_file).is_file():
            raise FileNotFoundError(f"{where}.io_backend.meta_info_file: {list_file} does not exist.")
        items = []
        for line in Path(list_file).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                name = line.split()[0]
                items.append(name if os.path.isabs(name) else os.path.join(root, name))
    else:
        raise ValueError(f"{where}.io_backend.type: {kind!r} is not one of 'disk', 'lmdb', 'filelist'.")
    unknown = set(io_backend) - {"type", "meta_info_file", "list_file"}
    if unknown:
        raise ValueError(f"{where}.io_backend: unknown key(s) {sorted(unknown)} (known: type, meta_info_file).")
    if not items:
        raise FileNotFoundError(f"{where}.{option}: no images found in {root} (backend {kind}).")
    return ImageStore(kind, str(root), items)


def write_lmdb(
    paths: Sequence[str | os.PathLike], lmdb_root: str | os.PathLike, compress_level: int = 1, progress: bool = False
) -> int:
    """Build a BasicSR-layout LMDB from image files: ``data.mdb`` with key = file stem, value = the PNG bytes
    (re-encoded at ``compress_level``; PNG inputs are stored as they are) and ``meta_info.txt`` lines
    ``name.png (h,w,c) compress_level``. Returns the number of images written.
    """
    import lmdb

    root = Path(lmdb_root)
    if (root / "data.mdb").exists():
        raise FileExistsError(f"{root}: an LMDB already exists there; delete it or choose another path.")
    root.mkdir(parents=True, exist_ok=True)
    paths = [str(p) for p in paths]
    total = sum(os.path.getsize(p) for p in paths)
    env = lmdb.open(str(root), map_size=max(total * 3, 1 << 24))
    lines = []
    iterator = paths
    if progress:
        from tqdm import tqdm

        iterator = tqdm(paths, desc="lmdb", unit="img")
    txn = env.begin(write=True)
    for n, path in enumerate(iterator):
        data = Path(path).read_bytes()
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise BadImageError(f"{path}: not a readable image.")
        if Path(path).suffix.lower() != ".png":
            data = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, compress_level])[1].tobytes()
        h, w = img.shape[:2]
        c = 1 if img.ndim == 2 else img.shape[2]
        key = Path(path).stem
        txn.put(key.encode("ascii"), data)
        lines.append(f"{key}.png ({h},{w},{c}) {compress_level}")
        if n % 1000 == 999:
            txn.commit()
            txn = env.begin(write=True)
    txn.commit()
    env.close()
    (root / "meta_info.txt").write_text("\n".join(lines) + "\n")
    return len(lines)
