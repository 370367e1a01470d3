"""Known pretrained weight files: where they come from, where they are looked for, and how they are verified.

Lookup order for ``get_weights_path(name)``:
1. an explicit local file given by the caller (``--model-path``, ``--lpips-weights``, ...);
2. ``$GFPGAN_WEIGHTS_DIR/<file>`` (offline directory);
3. ``experiments/pretrained_models/<file>`` under the current directory (the BasicSR habit);
4. the cache ``$GFPGAN_CACHE_DIR`` (default ``~/.cache/gfpgan``), downloading into it unless offline
   (``GFPGAN_OFFLINE=1`` or ``download=False``).
A missing file is an error naming the file, its URL and the folder to put it in (``target_dir()``).

Verification: a file is checked against its full sha256, else the sha256 prefix its publisher put in its name, else
its documented size. A download is written to a temporary file, verified, then renamed: a wrong download never lands
under the final name. Files found locally are verified only with ``verify=True``. A file with no known checksum is used
unverified, with a warning the first time it is used in a process. ``python -m gfpgan.utils.weights`` lists them all.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import tempfile
import urllib.request
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

__all__ = [
    "KNOWN_WEIGHTS",
    "WeightFile",
    "WeightsChecksumError",
    "WeightsNotFoundError",
    "cache_dir",
    "find_known",
    "get_weights_path",
    "missing_hint",
    "sha256sum",
    "target_dir",
]

logger = logging.getLogger(__name__)
# ``python -m gfpgan.utils.weights``: importing the gfpgan package imports this module before runpy runs it as
# __main__, which runpy warns about; the second copy only lists the registry, so that warning is noise.
warnings.filterwarnings("ignore", message="'gfpgan.utils.weights' found in sys.modules", category=RuntimeWarning)

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class WeightFile:
    """One known weight file and what is known to verify it.

    Attributes:
        filename: the file name, the same in every folder searched.
        url: the official download address.
        sha256: the full sha256 (64 hex digits) where one is published, else None.
        description: what the file is, for messages.
        sha256_prefix: the leading hex digits of the sha256 that the publisher put in the file name (torch.hub's
            ``name-<sha256 prefix>.ext`` convention), where no full digest is known.
        size: the size in bytes, only where documented; checked when set.
    """

    filename: str
    url: str
    sha256: str | None
    description: str
    sha256_prefix: str | None = None
    size: int | None = None

    def __post_init__(self) -> None:
        if self.sha256 is not None and (len(self.sha256) != 64 or not set(self.sha256) <= _HEX):
            raise ValueError(f"{self.filename}: sha256 must be 64 lowercase hex digits, not {self.sha256!r}.")
        prefix = self.sha256_prefix
        if prefix is not None and (not 8 <= len(prefix) < 64 or not set(prefix) <= _HEX):
            raise ValueError(f"{self.filename}: sha256_prefix must be 8 to 63 lowercase hex digits, not {prefix!r}.")
        if self.sha256 is not None and prefix is not None and not self.sha256.startswith(prefix):
            raise ValueError(f"{self.filename}: sha256 {self.sha256} does not start with sha256_prefix {prefix}.")

    @property
    def checksum_status(self) -> str:
        """``"sha256"``, ``"sha256 prefix <hex>"``, ``"size <n> bytes"`` or ``"none"``: what a file is checked with."""
        if self.sha256 is not None:
            return "sha256"
        if self.sha256_prefix is not None:
            return f"sha256 prefix {self.sha256_prefix}"
        if self.size is not None:
            return f"size {self.size} bytes"
        return "none"


_GH = "https://github.com/TencentARC/GFPGAN/releases/download"
_TORCH = "https://download.pytorch.org/models"
_ESRGAN = "https://github.com/xinntao/Real-ESRGAN/releases/download"
# Checksums. Full sha256: only the two LPIPS files (tests/unit/test_metrics_lpips_deg.py compares them with the files
# bundled in the lpips package when that is installed). sha256 prefixes: the 8 hex digits the publishers put in the
# file names, following torch.hub's ``filename-<sha256 prefix>.ext`` convention (see the docstring of
# torch.hub.load_state_dict_from_url; torchvision's own VGG/AlexNet weights; pytorch-fid's and BasicSR's release files
# use the same form). No file size is documented anywhere in this repository (docs/, ../shared/spec,
# ../shared/reference/keys, tests/data), so none is recorded. No published checksum is known for these 10 files, which
# are used unverified (with a warning the first time in a process):
#   GFPGANv1.pth, GFPGANCleanv1-NoCE-C2.pth, GFPGANv1.3.pth, GFPGANv1.4.pth,
#   StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth, arcface_resnet18.pth, FFHQ_eye_mouth_landmarks_512.pth
#   (TencentARC/GFPGAN releases), detection_Resnet50_Final.pth, parsing_parsenet.pth, alignment_WFLW_4HG.pth
#   (xinntao/facexlib releases; facexlib's own downloader checks no hash for them either).
# Nor for the 4 Real-ESRGAN background upsamplers (xinntao/Real-ESRGAN releases, read by gfpgan/upsample.py; their
# names carry no hash): RealESRGAN_x4plus.pth, RealESRGAN_x2plus.pth (RRDBNet, key params_ema),
# realesr-general-x4v3.pth, realesr-animevideov3.pth (SRVGGNetCompact, key params).
# Never fill in a hash that was not published or measured on the official file.
KNOWN_WEIGHTS: dict[str, WeightFile] = {
    w.filename.rsplit(".", 1)[0]: w
    for w in [
        WeightFile("GFPGANv1.pth", f"{_GH}/v0.1.0/GFPGANv1.pth", None, "GFPGANv1 paper model (arch original, cm 1)"),
        WeightFile(
            "GFPGANCleanv1-NoCE-C2.pth", f"{_GH}/v0.2.0/GFPGANCleanv1-NoCE-C2.pth", None, "GFPGAN v1.2 (clean, cm 2)"
        ),
        WeightFile("GFPGANv1.3.pth", f"{_GH}/v1.3.0/GFPGANv1.3.pth", None, "GFPGAN v1.3 (clean, cm 2)"),
        WeightFile("GFPGANv1.4.pth", f"{_GH}/v1.3.0/GFPGANv1.4.pth", None, "GFPGAN v1.4 (clean, cm 2)"),
        WeightFile(
            "StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth",
            f"{_GH}/v0.1.0/StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth",
            None,
            "StyleGAN2 FFHQ-512 decoder prior (cm 1), key params_ema",
        ),
        WeightFile("arcface_resnet18.pth", f"{_GH}/v0.1.0/arcface_resnet18.pth", None, "ArcFace ResNet18 (IRBlock)"),
        WeightFile(
            "FFHQ_eye_mouth_landmarks_512.pth",
            f"{_GH}/v0.1.0/FFHQ_eye_mouth_landmarks_512.pth",
            None,
            "eye/mouth component boxes of FFHQ-512",
        ),
        WeightFile(
            "vgg19-dcbb9e9d.pth",
            f"{_TORCH}/vgg19-dcbb9e9d.pth",
            None,
            "torchvision VGG19 ImageNet weights (perceptual loss)",
            sha256_prefix="dcbb9e9d",
        ),
        WeightFile(
            "alexnet-owt-7be5be79.pth",
            f"{_TORCH}/alexnet-owt-7be5be79.pth",
            None,
            "torchvision AlexNet ImageNet weights (LPIPS alex backbone)",
            sha256_prefix="7be5be79",
        ),
        WeightFile(
            "vgg16-397923af.pth",
            f"{_TORCH}/vgg16-397923af.pth",
            None,
            "torchvision VGG16 ImageNet weights (LPIPS vgg backbone)",
            sha256_prefix="397923af",
        ),
        WeightFile(
            "lpips_v0.1_alex.pth",
            "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth",
            "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
            "LPIPS v0.1 linear layers for the AlexNet backbone (Zhang et al. 2018)",
        ),
        WeightFile(
            "lpips_v0.1_vgg.pth",
            "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
            "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
            "LPIPS v0.1 linear layers for the VGG16 backbone (Zhang et al. 2018)",
        ),
        WeightFile(
            "pt_inception-2015-12-05-6726825d.pth",
            "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
            None,
            "FID Inception-v3 (pytorch-fid)",
            sha256_prefix="6726825d",
        ),
        WeightFile(
            "inception_FFHQ_512-f7b384ab.pth",
            "https://github.com/xinntao/BasicSR/releases/download/v0.1.0/inception_FFHQ_512-f7b384ab.pth",
            None,
            "FFHQ-512 Inception statistics (50k images) for FID",
            sha256_prefix="f7b384ab",
        ),
        WeightFile(
            "detection_Resnet50_Final.pth",
            "https://github.com/xinntao/facexlib/releases/download/v0.1.0/detection_Resnet50_Final.pth",
            None,
            "facexlib RetinaFace detector",
        ),
        WeightFile(
            "parsing_parsenet.pth",
            "https://github.com/xinntao/facexlib/releases/download/v0.2.2/parsing_parsenet.pth",
            None,
            "facexlib ParseNet face parsing",
        ),
        WeightFile(
            "alignment_WFLW_4HG.pth",
            "https://github.com/xinntao/facexlib/releases/download/v0.1.0/alignment_WFLW_4HG.pth",
            None,
            "facexlib AWing FAN (4 hourglasses, 98 WFLW landmarks) for the LMD metric, key state_dict",
        ),
        WeightFile(
            "RealESRGAN_x4plus.pth",
            f"{_ESRGAN}/v0.1.0/RealESRGAN_x4plus.pth",
            None,
            "Real-ESRGAN x4 (RRDBNet, 23 blocks)",
        ),
        WeightFile(
            "RealESRGAN_x2plus.pth",
            f"{_ESRGAN}/v0.2.1/RealESRGAN_x2plus.pth",
            None,
            "Real-ESRGAN x2 (RRDBNet, 23 blocks): the --bg_upsampler realesrgan background",
        ),
        WeightFile(
            "realesr-general-x4v3.pth",
            f"{_ESRGAN}/v0.2.5.0/realesr-general-x4v3.pth",
            None,
            "Real-ESRGAN general x4 v3 (SRVGGNetCompact, 32 convs)",
        ),
        WeightFile(
            "realesr-animevideov3.pth",
            f"{_ESRGAN}/v0.2.5.0/realesr-animevideov3.pth",
            None,
            "Real-ESRGAN anime video x4 v3 (SRVGGNetCompact, 16 convs)",
        ),
    ]
}


class WeightsNotFoundError(FileNotFoundError):
    """A weight file is not available locally and could not (or may not) be downloaded."""


class WeightsChecksumError(WeightsNotFoundError, ValueError):
    """A weight file (found locally with ``verify=True``, or just downloaded) does not match its known checksum.

    A ``WeightsNotFoundError`` (no usable file) and a ``ValueError`` (a bad file), so either ``except`` catches it.
    """


def cache_dir() -> Path:
    """The download cache: ``$GFPGAN_CACHE_DIR``, default ``~/.cache/gfpgan``."""
    return Path(os.environ.get("GFPGAN_CACHE_DIR", Path.home() / ".cache" / "gfpgan"))


def target_dir() -> Path:
    """The folder to put a missing file in by hand: ``$GFPGAN_WEIGHTS_DIR`` when set, else the absolute
    ``experiments/pretrained_models`` under the current directory."""
    if os.environ.get("GFPGAN_WEIGHTS_DIR"):
        return Path(os.environ["GFPGAN_WEIGHTS_DIR"]).expanduser().absolute()
    return Path("experiments/pretrained_models").absolute()


def find_known(filename: str | os.PathLike) -> WeightFile | None:
    """The KNOWN_WEIGHTS entry whose file name is the name of ``filename`` (a path or a bare name), else None."""
    name = Path(filename).name
    return next((w for w in KNOWN_WEIGHTS.values() if w.filename == name), None)


def missing_hint(entry: WeightFile, folder: str | os.PathLike | None = None) -> str:
    """``"download <url> into <folder>/"``; ``folder`` defaults to ``target_dir()``."""
    folder = str(target_dir() if folder is None else folder).rstrip("/") or "/"
    return f"download {entry.url} into {folder}{'' if folder.endswith('/') else '/'}"


def sha256sum(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _mismatch(path: str | os.PathLike, entry: WeightFile) -> str | None:
    """What differs between the file and the entry's checksum (``"sha256 ... instead of ..."``), None if it matches
    or nothing is known to check."""
    if entry.size is not None and (size := os.path.getsize(path)) != entry.size:
        return f"size {size} bytes instead of {entry.size}"
    expected = entry.sha256 or entry.sha256_prefix
    if expected is not None and not (actual := sha256sum(path)).startswith(expected):
        return f"sha256 {actual} instead of {expected}{'' if entry.sha256 else '...'}"
    return None


def _check(path: Path, entry: WeightFile) -> None:
    """Verify a local file against the entry's sha256, sha256 prefix or size (nothing to do when none is known)."""
    if problem := _mismatch(path, entry):
        raise WeightsChecksumError(
            f"{path} does not match the known checksum of {entry.filename} ({problem}); delete it and "
            f"{missing_hint(entry, path.parent)} again."
        )


_warned_unverified: set[str] = set()


def _warn_if_unverified(path: Path, entry: WeightFile) -> None:
    """Log once per process and file that a file with no known checksum is used as it is."""
    if entry.checksum_status != "none" or entry.filename in _warned_unverified:
        return
    _warned_unverified.add(entry.filename)
    logger.warning(
        "%s: no checksum is known for %s, so it is used unverified; if in doubt, download it again from %s.",
        path,
        entry.filename,
        entry.url,
    )


def _search_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("GFPGAN_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["GFPGAN_WEIGHTS_DIR"]).expanduser())
    dirs += [Path("experiments/pretrained_models"), cache_dir()]
    return dirs


def _find_local(entry: WeightFile) -> Path | None:
    return next((d / entry.filename for d in _search_dirs() if (d / entry.filename).is_file()), None)


def get_weights_path(
    name: str, local_path: str | os.PathLike | None = None, download: bool | None = None, verify: bool = False
) -> Path:
    """Return a local path to the weight file ``name`` (a key of KNOWN_WEIGHTS or a file name).

    Args:
        name: e.g. ``"GFPGANv1.4"`` or ``"GFPGANv1.4.pth"``.
        local_path: an explicit file; used as-is (it must exist).
        download: allow downloading into the cache; default: unless ``GFPGAN_OFFLINE=1``.
        verify: check the checksum of a file found locally too (always done for a download, before it is renamed).
    Raises:
        WeightsNotFoundError naming the file, its URL, the directories searched and the folder to put it in;
        WeightsChecksumError (a subclass, also a ValueError) when a downloaded or verified file does not match.
    """
    if local_path is not None:
        path = Path(local_path).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(f"weights file {path} does not exist.")
        return path
    key = name[:-4] if name.endswith((".pth", ".npz")) else name
    if key not in KNOWN_WEIGHTS:
        raise WeightsNotFoundError(f"unknown weights {name!r}; known: {', '.join(sorted(KNOWN_WEIGHTS))}.")
    entry = KNOWN_WEIGHTS[key]
    path = _find_local(entry)
    if path is not None:
        if verify:
            _check(path, entry)
        _warn_if_unverified(path, entry)
        return path
    if download is None:
        download = os.environ.get("GFPGAN_OFFLINE", "0") not in ("1", "true", "yes")
    searched = ", ".join(str(d) for d in _search_dirs())
    where = "" if os.environ.get("GFPGAN_WEIGHTS_DIR") else " (or into a folder named by $GFPGAN_WEIGHTS_DIR)"
    hint = f"{missing_hint(entry)}{where}"
    if not download:
        raise WeightsNotFoundError(f"{entry.filename} ({entry.description}) not found in {searched}; {hint}.")
    target = cache_dir() / entry.filename
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _download(entry.url, target, entry)
    except WeightsChecksumError:
        raise
    except OSError as e:
        raise WeightsNotFoundError(
            f"{entry.filename} ({entry.description}) not found in {searched} and downloading it into "
            f"{target.parent}/ failed ({e}); {hint}."
        ) from e
    _warn_if_unverified(target, entry)
    return target


def _stderr_is_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def _download(url: str, target: Path, entry: WeightFile | None = None) -> None:
    """Download ``url`` to ``target`` through a temporary file in the same folder, verified against ``entry`` before
    the atomic rename: an interrupted or wrong download leaves nothing under the final name. Shows a progress bar in
    bytes when stderr is a terminal."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            length = response.headers.get("Content-Length", "")
            with tqdm(
                total=int(length) if length.isdigit() else None,
                desc=target.name,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                disable=not _stderr_is_terminal(),
            ) as progress:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    progress.update(len(chunk))
        if entry is not None and (problem := _mismatch(tmp, entry)):
            raise WeightsChecksumError(
                f"{entry.filename} downloaded from {url} into {target.parent}/ does not match its known checksum "
                f"({problem}); nothing was kept: retry, or {missing_hint(entry)}."
            )
        mask = os.umask(0o022)  # read the umask (mkstemp creates files 0600, the final file gets the usual mode)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gfpgan.utils.weights [--verify]``: every known file with its checksum status, where it was found
    (or the folder to put it in) and its URL. Returns 1 when ``--verify`` finds a file that does not match."""
    parser = argparse.ArgumentParser(
        prog="python -m gfpgan.utils.weights",
        description="List the known weight files: checksum status, local folder (or where to put them) and URL.",
    )
    parser.add_argument("--verify", action="store_true", help="hash the files found locally against their checksums")
    args = parser.parse_args(argv)
    rows = [("file", "checksum", "status", "folder", "url")]
    bad = 0
    for entry in KNOWN_WEIGHTS.values():
        path = _find_local(entry)
        status, folder = ("found", str(path.parent)) if path else ("missing", str(target_dir()))
        if path is not None and args.verify and entry.checksum_status != "none":
            problem = _mismatch(path, entry)
            status = f"MISMATCH ({problem})" if problem else "verified"
            bad += problem is not None
        rows.append((entry.filename, entry.checksum_status, status, folder + "/", entry.url))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4])
    unchecked = [w.filename for w in KNOWN_WEIGHTS.values() if w.checksum_status == "none"]
    print(
        f"\nMissing files go into {target_dir()}/ by hand, or are downloaded into {cache_dir()}/ when needed "
        f"(not with GFPGAN_OFFLINE=1). No checksum is known for {len(unchecked)} files: {', '.join(unchecked)}."
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
