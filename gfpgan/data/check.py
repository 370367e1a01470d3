"""Data checks run before training: every image a dataset would read, checked up front instead of failing mid-run.

Two depths:

- the fast pre-flight (``full_decode=False``) reads each file's header with PIL (``Image.open(...).size/mode``, no
  pixels) and its last few KiB (a PNG must end with its ``IEND`` chunk, a JPEG with its end-of-image marker, a WebP
  must be as long as its RIFF header says), so an empty, unreadable, truncated or wrong-size file is found at about
  the cost of a ``stat``. Files PIL cannot parse, and float or 32-bit integer images (where NaN/Inf or an unsupported
  pixel type can hide), are decoded with the project's reader instead. LMDB records are read (their bytes live in the
  database) but still only their header is parsed. A clean result is cached (see below), so the next run of the
  same folder listing skips it;
- the full check (``full_decode=True``) decodes every image once with the reader the datasets use
  (:func:`gfpgan.data.image_io.decode_image`) and also finds non-finite pixels and corruption inside the data.

The cache lives in ``<cache_dir>/datacheck/<sha1>.json`` (``cache_dir`` of :mod:`gfpgan.utils.weights`:
``$GFPGAN_CACHE_DIR``, default ``~/.cache/gfpgan``), never in the dataset folder (it may be read-only). The sha1
covers the resolved folder, the sorted file names, their sizes and modification times (for an LMDB: its keys and
``data.mdb``'s size and time), the expected size and the check's version, so editing, adding or removing a file
invalidates it. Only clean results are cached.

Library use::

    problems = check_images(list_images(folder), expected_size=512, full_decode=False, workers=0)
    lines = check_dataset_block(opts.datasets.train, "datasets.train", full_decode=False)

or from the shell: ``python -m gfpgan.data.check FOLDER [--size 512] [--full]``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gfpgan.data.image_io import BadImageError, ImageStore, decode_image, open_store

__all__ = ["Problem", "cache_path", "check_dataset_block", "check_images", "main"]

ProblemKind = Literal["empty", "unreadable", "truncated", "size", "channels", "nonfinite"]

_VERSION = 1  # part of the cache key: bump when the checks change
_TAIL = 4096  # bytes read from the end of a file for the end-marker checks
_LISTED = 20  # problem lines listed per dataset root before "... and N more"
# PIL modes whose header tells everything the reader needs (1 to 4 channels of 1-16 bit integers); any other mode
# (F, I, ...) is decoded in the fast check as well.
_HEADER_MODES = {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr"}
_HEADER_MODES |= {"I;16", "I;16L", "I;16B", "I;16N"}
# What read_with_skip (gfpgan/data/ffhq_degradation.py) substitutes with skip_bad_images: true: the reader raises
# BadImageError for these.
_SKIPPABLE: frozenset[str] = frozenset({"empty", "unreadable", "truncated", "channels"})


@dataclass(frozen=True)
class Problem:
    """One bad image: ``file`` (a path, or ``root[key]`` for an LMDB record), ``kind`` and a one-line ``message``."""

    file: str
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass
class _Item:
    name: str  # what a Problem reports
    path: str | None = None  # a file on disk ...
    store: ImageStore | None = None  # ... or record `index` of an LMDB store
    index: int = 0
    size: int | None = None  # st_size from the listing's stat (None: stat failed)


# ----------------------------------------------------------------------------------------------------------------------
# One image


def _expected_wh(expected_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if expected_size is None:
        return None
    if isinstance(expected_size, (int, np.integer)):
        return int(expected_size), int(expected_size)
    width, height = expected_size
    return int(width), int(height)


def _size_problem(name: str, width: int, height: int, expected: tuple[int, int] | None) -> Problem | None:
    if expected is None or (width, height) == expected:
        return None
    return Problem(name, "size", f"wrong size: expected {expected[0]} x {expected[1]}, got {width} x {height}")


def _decoded(data: bytes, name: str, expected: tuple[int, int] | None) -> Problem | None:
    """Decode with the datasets' reader; report what it rejects, a wrong size or non-finite values."""
    try:
        img = decode_image(data, name)
    except BadImageError as e:
        samples = _tiff_samples(data)
        if samples is not None and not 1 <= samples <= 4:
            return Problem(name, "channels", f"{samples} channels; expected gray, gray+alpha, BGR or BGRA")
        return Problem(name, "unreadable", str(e).removeprefix(f"{name}: "))
    bad = img.size - int(np.count_nonzero(np.isfinite(img)))
    if bad:
        return Problem(name, "nonfinite", f"{bad} non-finite pixel value(s) (NaN or Inf); fix or remove the image")
    return _size_problem(name, img.shape[1], img.shape[0], expected)


def _tiff_samples(data: bytes) -> int | None:
    """SamplesPerPixel (tag 277) of a classic TIFF's first image, or None (not a TIFF, or not found)."""
    order = {b"II*\x00": "little", b"MM\x00*": "big"}.get(data[:4])
    if order is None or len(data) < 8:
        return None
    ifd = int.from_bytes(data[4:8], order)
    if ifd + 2 > len(data):
        return None
    for n in range(int.from_bytes(data[ifd : ifd + 2], order)):
        entry = data[ifd + 2 + 12 * n : ifd + 14 + 12 * n]
        if len(entry) == 12 and int.from_bytes(entry[:2], order) == 277:
            return int.from_bytes(entry[8:10], order)
    return 1  # the TIFF default


def _truncated(fmt: str | None, head: bytes, tail: bytes, size: int) -> str | None:
    """Why the file looks cut short, from its first and last bytes, or None."""
    if fmt == "PNG" and b"IEND" not in tail:
        return "truncated PNG (no IEND chunk at the end of the file)"
    if fmt in ("JPEG", "MPO") and b"\xff\xd9" not in tail:
        return "truncated JPEG (no end-of-image marker at the end of the file)"
    if fmt == "WEBP" and len(head) >= 8 and int.from_bytes(head[4:8], "little") + 8 > size:
        return f"truncated WebP ({size} bytes, the header says {int.from_bytes(head[4:8], 'little') + 8})"
    return None


def _header(f: Any, name: str, size: int, expected: tuple[int, int] | None) -> tuple[bool, Problem | None]:
    """The fast check of an open binary file: ``(True, problem or None)`` when the header decides, ``(False, None)``
    when the image must be decoded to know (PIL cannot parse it, or float / 32-bit pixels)."""
    from PIL import Image

    try:
        with Image.open(f) as im:
            (width, height), mode, fmt = im.size, im.mode, im.format
            bands = len(im.getbands())
    except Exception:  # noqa: BLE001  (PIL raises many types on odd headers; the datasets' reader decides)
        return False, None
    if mode not in _HEADER_MODES:
        return False, None
    f.seek(0)
    head = f.read(12)
    f.seek(max(size - _TAIL, 0))
    reason = _truncated(fmt, head, f.read(_TAIL), size)
    if reason:
        return True, Problem(name, "truncated", reason)
    if not 1 <= bands <= 4:
        return True, Problem(name, "channels", f"{bands} channels ({mode}); expected gray, gray+alpha, RGB or RGBA")
    return True, _size_problem(name, width, height, expected)


def _inspect(item: _Item, expected: tuple[int, int] | None, full_decode: bool) -> Problem | None:
    """Check one image; at most one Problem per file."""
    name = item.name
    try:
        if item.store is not None:
            data = item.store.read_bytes(item.index)
            if not data:
                return Problem(name, "empty", "empty record (0 bytes)")
            if full_decode:
                return _full(data, name, expected)
            decided, found = _header(io.BytesIO(data), name, len(data), expected)
            return found if decided else _decoded(data, name, expected)
        size = item.size if item.size is not None else os.stat(item.path).st_size
        if size == 0:
            return Problem(name, "empty", "empty file (0 bytes)")
        with open(item.path, "rb") as f:
            if not full_decode:
                decided, found = _header(f, name, size, expected)
                if decided:
                    return found
                f.seek(0)
            data = f.read()
    except BadImageError as e:  # an LMDB key listed in meta_info.txt but not stored
        return Problem(name, "unreadable", str(e).split(": ", 1)[-1])
    except OSError as e:
        return Problem(name, "unreadable", f"cannot read the file ({e.strerror or e})")
    return _full(data, name, expected) if full_decode else _decoded(data, name, expected)


def _full(data: bytes, name: str, expected: tuple[int, int] | None) -> Problem | None:
    """The full check of one encoded image: the end markers of the fast check, then the datasets' decoder."""
    reason = _truncated(_format_of(data), data[:12], data[-_TAIL:], len(data))
    return Problem(name, "truncated", reason) if reason else _decoded(data, name, expected)


def _format_of(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


# ----------------------------------------------------------------------------------------------------------------------
# Many images, the cache


def _items(paths: Sequence[str | os.PathLike] | ImageStore) -> list[_Item]:
    if isinstance(paths, ImageStore):
        if paths.kind == "lmdb":
            return [_Item(f"{paths.root}[{key}]", store=paths, index=i) for i, key in enumerate(paths.items)]
        paths = paths.items
    items = []
    for p in paths:
        p = os.fspath(p)
        try:
            size = os.stat(p).st_size
        except OSError:
            size = None
        items.append(_Item(p, path=p, size=size))
    return items


def _cache_key(paths: Sequence[str | os.PathLike] | ImageStore, expected: tuple[int, int] | None) -> str:
    """sha1 of (check version, expected size, resolved folders, sorted file names, sizes and mtimes)."""
    digest = hashlib.sha1(f"gfpgan-datacheck {_VERSION} {expected}\n".encode(), usedforsecurity=False)
    if isinstance(paths, ImageStore) and paths.kind == "lmdb":
        mdb = os.stat(Path(paths.root) / "data.mdb")
        digest.update(f"lmdb {os.path.realpath(paths.root)} {mdb.st_size} {mdb.st_mtime_ns}\n".encode())
        for key in sorted(paths.items):
            digest.update(f"{key}\n".encode())
        return digest.hexdigest()
    if isinstance(paths, ImageStore):
        paths = paths.items
    folders: dict[str, str] = {}
    entries = []
    for p in paths:
        folder, file = os.path.split(os.path.abspath(os.fspath(p)))
        if folder not in folders:
            folders[folder] = os.path.realpath(folder)
        try:
            st = os.stat(p)
            entries.append(f"{folders[folder]}/{file} {st.st_size} {st.st_mtime_ns}\n")
        except OSError:
            entries.append(f"{folders[folder]}/{file} missing\n")
    for entry in sorted(entries):
        digest.update(entry.encode())
    return digest.hexdigest()


def cache_path(paths: Sequence[str | os.PathLike] | ImageStore, expected_size: int | tuple[int, int] | None) -> Path:
    """Where the clean result of the fast check of this listing (and expected size) is, or would be, cached."""
    from gfpgan.utils.weights import cache_dir

    return cache_dir() / "datacheck" / f"{_cache_key(paths, _expected_wh(expected_size))}.json"


def _write_cache(path: Path, count: int, expected: tuple[int, int] | None, full_decode: bool) -> None:
    from gfpgan.utils.files import atomic_write

    record = {
        "version": _VERSION,
        "clean": True,
        "images": count,
        "expected_size": expected,
        "full_decode": full_decode,
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(record))
    except OSError:  # a read-only or full home: the check just runs again next time
        pass


def _cached_clean(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("clean") is True
    except (OSError, ValueError, AttributeError):
        return False


def _run(items: list[_Item], check: Callable[[_Item], Problem | None], workers: int, desc: str) -> list[Problem]:
    """``check`` over ``items`` on a thread pool (the decoders release the GIL), in chunks, in input order."""
    results: list[Problem | None] = [None] * len(items)
    chunk = 64

    def run_chunk(start: int) -> int:
        for i in range(start, min(start + chunk, len(items))):
            results[i] = check(items[i])
        return min(chunk, len(items) - start)

    from tqdm import tqdm

    with (
        tqdm(total=len(items), desc=desc, unit="img", disable=not sys.stderr.isatty(), leave=False) as bar,
        ThreadPoolExecutor(max_workers=workers) as pool,
    ):
        for done in as_completed([pool.submit(run_chunk, s) for s in range(0, len(items), chunk)]):
            bar.update(done.result())
    return [p for p in results if p is not None]


def check_images(
    paths: Sequence[str | os.PathLike] | ImageStore,
    expected_size: int | tuple[int, int] | None = None,
    full_decode: bool = False,
    workers: int = 0,
    *,
    use_cache: bool = True,
) -> list[Problem]:
    """Check images before training; at most one Problem per bad image, in input order.

    Args:
        paths: image files, or an :class:`~gfpgan.data.image_io.ImageStore` (disk, file list or LMDB records).
        expected_size: ``S`` (S x S) or ``(width, height)``; None: any size.
        full_decode: False: the fast pre-flight (headers and end markers, module docstring), cached when clean;
            True: decode every image with the datasets' reader and check its values too (never read from the cache;
            a clean result is cached for the fast check).
        workers: threads; 0 or less: a default for the machine (I/O bound for the fast check, CPU bound else).
        use_cache: look up and store the fast check's clean result in the cache.
    """
    expected = _expected_wh(expected_size)
    cache = None
    if use_cache:
        try:
            cache = cache_path(paths, expected)
        except OSError:  # e.g. an LMDB without data.mdb: nothing to key on, the check reports the rest
            cache = None
    if cache is not None and not full_decode and _cached_clean(cache):
        return []
    items = _items(paths)
    if workers <= 0:
        cpus = os.cpu_count() or 1
        workers = cpus if full_decode else min(32, 4 * cpus)
    desc = "decoding images" if full_decode else "checking image headers"
    problems = _run(items, lambda item: _inspect(item, expected, full_decode), workers, desc)
    if cache is not None and not problems and items:
        _write_cache(cache, len(items), expected, full_decode)
    return problems


# ----------------------------------------------------------------------------------------------------------------------
# A datasets.<phase> block


def _report(problems: list[Problem], where: str, option: str, root: str, lq_of_pairs: bool = False) -> list[str]:
    """Problem lines (the first few listed, one per file) and one summary line per kind of fix."""
    lines = [f"{where}.{option}: {p}" for p in problems[:_LISTED]]
    if len(problems) > _LISTED:
        lines.append(
            f"{where}.{option}: ... and {len(problems) - _LISTED} more; list them all with "
            f"python -m gfpgan.data.check {root}"
        )
    bad = sum(p.kind in _SKIPPABLE for p in problems)
    size = sum(p.kind == "size" for p in problems)
    nonfinite = sum(p.kind == "nonfinite" for p in problems)
    if bad and lq_of_pairs:
        lines.append(
            f"{where}.{option} ({root}): {bad} bad image(s); fix or remove them and their GT images "
            f"({where}.skip_bad_images does not cover LQ images)."
        )
    elif bad:
        lines.append(
            f"{where}.{option} ({root}): {bad} bad image(s); fix or remove them, or set {where}.skip_bad_images: "
            "true to skip them."
        )
    if size:
        lines.append(  # only FFHQDegradationDataset's out_size is checked
            f"{where}.{option} ({root}): {size} image(s) of the wrong size; resize them (scripts/prepare_ffhq.py) "
            f"or set {where}.resize_gt: true."
        )
    if nonfinite:
        lines.append(
            f"{where}.{option} ({root}): {nonfinite} image(s) with NaN/Inf pixels; fix or remove them "
            f"({where}.skip_bad_images does not catch them)."
        )
    return lines


def _without_skipped(problems: list[Problem], skip: bool) -> list[Problem]:
    return [p for p in problems if not (skip and p.kind in _SKIPPABLE)]


def _check_components(spec: Mapping[str, Any], where: str, store: ImageStore) -> list[str]:
    """A malformed component file, or images without an entry (what FFHQDegradationDataset would fail on)."""
    from gfpgan.data.components import load_components

    path = str(spec["component_path"])
    try:
        components = load_components(path)
    except FileNotFoundError as e:
        return [f"{where}.{e}"]
    except Exception as e:  # noqa: BLE001  (ValueError from the checks, an unpickling or OS error from .pth)
        return [f"{where}.component_path: {str(e).splitlines()[0]}"]
    missing = []
    for i in range(len(store)):
        stem = store.stem(i)
        if stem not in components and not (stem.isdigit() and f"{int(stem):08d}" in components):
            missing.append(stem)
    if not missing:
        return []
    return [
        f"{where}.component_path: {path} has no entry for {len(missing)} of {len(store)} image(s) (e.g. "
        f"{', '.join(repr(s) for s in missing[:3])}); regenerate it with scripts/prepare_components.py for this folder."
    ]


def check_dataset_block(
    spec: Mapping[str, Any], where: str, full_decode: bool = False, *, workers: int = 0, use_cache: bool = True
) -> list[str]:
    """Check every image a resolved ``datasets.<phase>`` block would read; one-line problem strings (empty: clean).

    Lists the images as the dataset does (``open_store`` of gfpgan/data/image_io.py; PairedImageDataset's own
    pairing) and runs :func:`check_images` on them: FFHQDegradationDataset's ``dataroot_gt`` against ``out_size``
    (any size with ``resize_gt: true``) plus its component file with ``crop_components``; SingleImageDataset's
    ``dataroot_lq``; PairedImageDataset's GT and LQ roots. Unreadable images are not reported where
    ``skip_bad_images: true`` makes the dataset skip them (not for LQ images of pairs, which it never skips). A block
    with ``synthetic_faces`` whose folder does not exist yet is skipped (it is generated at start); other dataset
    types return no problems. A missing root or file list is reported, not raised.

    Args:
        spec: the resolved block (``opts.datasets.train``); its ``loader`` block is ignored.
        where: its option path, e.g. ``"datasets.train"``, used in every line.
        full_decode: decode every image (``--check-data``) instead of the cached fast pre-flight.
        workers, use_cache: as in :func:`check_images`.
    """
    kind = spec.get("type")
    io_backend = dict(spec.get("io_backend") or {"type": "disk"})
    synthetic = bool(spec.get("synthetic_faces"))
    skip = bool(spec.get("skip_bad_images"))

    def check(store: ImageStore, expected: int | None) -> list[Problem]:
        return check_images(store, expected, full_decode, workers, use_cache=use_cache)

    if kind in ("FFHQDegradationDataset", "SingleImageDataset"):
        option = "dataroot_gt" if kind == "FFHQDegradationDataset" else "dataroot_lq"
        root = str(spec[option])
        if synthetic and not Path(root).exists():
            return []
        if kind == "SingleImageDataset" and spec.get("meta_info_file") and io_backend.get("type") == "disk":
            io_backend = {"type": "filelist", "meta_info_file": spec["meta_info_file"]}
        try:
            store = open_store(root, io_backend, where, option=option)
        except (OSError, ValueError) as e:
            return [str(e)]
        expected = spec.get("out_size") if kind == "FFHQDegradationDataset" and not spec.get("resize_gt") else None
        lines = _report(_without_skipped(check(store, expected), skip), where, option, root)
        component_path = spec.get("component_path")
        if kind == "FFHQDegradationDataset" and spec.get("crop_components") and component_path:
            if not (synthetic and not Path(component_path).exists()):  # synthetic: copied there at start
                lines += _check_components(spec, where, store)
        return lines
    if kind == "PairedImageDataset":
        roots = (str(spec["dataroot_gt"]), str(spec["dataroot_lq"]))
        if synthetic and not all(Path(r).exists() for r in roots):
            return []
        from gfpgan.registry import DATASETS

        # The dataset's own listing and pairing (no image is read); synthetic folders exist here, so no generation.
        kwargs = {k: v for k, v in spec.items() if k not in ("loader", "synthetic_faces")}
        try:
            dataset = DATASETS.build(kwargs, where=where)
        except (OSError, ValueError) as e:
            return [str(e).splitlines()[0]]
        gt = _without_skipped(check(dataset.gt, None), skip)
        lq = check(dataset.lq, None)
        return _report(gt, where, "dataroot_gt", roots[0]) + _report(lq, where, "dataroot_lq", roots[1], True)
    return []


# ----------------------------------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    """``python -m gfpgan.data.check FOLDER [--size S] [--full]``: print every problem; exit status 1 if any."""
    parser = argparse.ArgumentParser(prog="python -m gfpgan.data.check", description=main.__doc__)
    parser.add_argument("folder", help="a folder of images (or a BasicSR LMDB folder)")
    parser.add_argument("--size", type=int, default=None, help="expected size S (S x S); default any")
    parser.add_argument("--full", action="store_true", help="decode every image (default: headers only)")
    parser.add_argument("--workers", type=int, default=0, help="threads (default: chosen for the machine)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the result cache")
    args = parser.parse_args(argv)
    lmdb = (Path(args.folder) / "data.mdb").is_file()
    try:
        store = open_store(args.folder, {"type": "lmdb" if lmdb else "disk"}, "check", option="folder")
    except (OSError, ValueError) as e:
        print(e, file=sys.stderr)
        return 2
    start = time.perf_counter()
    problems = check_images(store, args.size, args.full, args.workers, use_cache=not args.no_cache)
    for problem in problems:
        print(problem)
    print(f"{len(store)} images, {len(problems)} problem(s), {time.perf_counter() - start:.1f}s", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
