"""Known pretrained weight files: where they come from, where they are looked for, and how they are verified.

Lookup order for ``get_weights_path(name)``:
1. an explicit local file given by the caller (``--model-path``, ``--lpips-weights``, ...);
2. ``$GFPGAN_WEIGHTS_DIR/<file>`` (offline directory);
3. ``experiments/pretrained_models/<file>`` under the current directory (the BasicSR habit);
4. the cache ``$GFPGAN_CACHE_DIR`` (default ``~/.cache/gfpgan``), downloading into it unless offline
   (``GFPGAN_OFFLINE=1`` or ``download=False``).
A file with a known sha256 is verified after download (and, with ``verify=True``, on every lookup).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KNOWN_WEIGHTS", "WeightFile", "WeightsNotFoundError", "cache_dir", "get_weights_path", "sha256sum"]


@dataclass(frozen=True)
class WeightFile:
    filename: str
    url: str
    sha256: str | None  # None where no published checksum is known; the BasicSR-style 8-hex prefix is checked then
    description: str


_GH = "https://github.com/TencentARC/GFPGAN/releases/download"
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
            "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
            None,
            "torchvision VGG19 ImageNet weights (perceptual loss)",
        ),
        WeightFile(
            "alexnet-owt-7be5be79.pth",
            "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            None,
            "torchvision AlexNet ImageNet weights (LPIPS alex backbone)",
        ),
        WeightFile(
            "vgg16-397923af.pth",
            "https://download.pytorch.org/models/vgg16-397923af.pth",
            None,
            "torchvision VGG16 ImageNet weights (LPIPS vgg backbone)",
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
        ),
        WeightFile(
            "inception_FFHQ_512-f7b384ab.pth",
            "https://github.com/xinntao/BasicSR/releases/download/v0.1.0/inception_FFHQ_512-f7b384ab.pth",
            None,
            "FFHQ-512 Inception statistics (50k images) for FID",
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
    ]
}


class WeightsNotFoundError(FileNotFoundError):
    """A weight file is not available locally and could not (or may not) be downloaded."""


def cache_dir() -> Path:
    return Path(os.environ.get("GFPGAN_CACHE_DIR", Path.home() / ".cache" / "gfpgan"))


def sha256sum(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _check(path: Path, entry: WeightFile) -> None:
    """Verify a file against its known sha256, or the 8-hex prefix some file names carry (``-f7b384ab.pth``)."""
    if entry.sha256 is not None:
        actual = sha256sum(path)
        if actual != entry.sha256:
            raise ValueError(f"{path}: sha256 {actual} does not match the expected {entry.sha256}; delete the file.")
        return
    stem = entry.filename.rsplit(".", 1)[0]
    prefix = stem.rsplit("-", 1)[-1]
    if "-" in stem and len(prefix) == 8 and all(c in "0123456789abcdef" for c in prefix):
        actual = sha256sum(path)
        if not actual.startswith(prefix):
            raise ValueError(f"{path}: sha256 {actual[:8]}... does not match the prefix {prefix} in its name.")


def _search_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("GFPGAN_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["GFPGAN_WEIGHTS_DIR"]))
    dirs += [Path("experiments/pretrained_models"), cache_dir()]
    return dirs


def get_weights_path(
    name: str, local_path: str | os.PathLike | None = None, download: bool | None = None, verify: bool = False
) -> Path:
    """Return a local path to the weight file ``name`` (a key of KNOWN_WEIGHTS or a file name).

    Args:
        name: e.g. ``"GFPGANv1.4"`` or ``"GFPGANv1.4.pth"``.
        local_path: an explicit file; used as-is (it must exist).
        download: allow downloading into the cache; default: unless ``GFPGAN_OFFLINE=1``.
        verify: check the checksum of a file found locally too (always done after a download).
    Raises:
        WeightsNotFoundError naming the file, its URL and the directories searched.
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
    for directory in _search_dirs():
        path = directory / entry.filename
        if path.is_file():
            if verify:
                _check(path, entry)
            return path
    if download is None:
        download = os.environ.get("GFPGAN_OFFLINE", "0") not in ("1", "true", "yes")
    searched = ", ".join(str(d) for d in _search_dirs())
    hint = (
        f"Download {entry.url} and put it in experiments/pretrained_models/ (or a directory named by "
        f"$GFPGAN_WEIGHTS_DIR)."
    )
    if not download:
        raise WeightsNotFoundError(f"{entry.filename} ({entry.description}) not found in {searched}. {hint}")
    target = cache_dir() / entry.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        _download(entry.url, target)
    except OSError as e:
        raise WeightsNotFoundError(
            f"{entry.filename} ({entry.description}) not found in {searched} and the download failed ({e}). {hint}"
        ) from e
    try:
        _check(target, entry)
    except ValueError:
        target.unlink(missing_ok=True)
        raise
    return target


def _download(url: str, target: Path) -> None:
    """Download to a temporary file in the target directory, then rename: an interrupted download leaves nothing."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
