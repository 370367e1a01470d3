"""Datasets: FFHQDegradationDataset (determinism, workers, flip boxes, landmark files, bad input, backends),
PairedImageDataset, SingleImageDataset, the degraded test-set tool."""

import json
import pickle
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from gfpgan.data import EnlargedSampler, FFHQDegradationDataset, PairedImageDataset, SingleImageDataset
from gfpgan.data.components import component_boxes, load_components
from gfpgan.data.image_io import BadImageError, decode_image, write_lmdb
from gfpgan.data.synthetic import make_synthetic_faces
from gfpgan.data.testset import PARAMS_FILE, degrade_folder
from gfpgan.registry import DATASETS

SIZE = 32


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    make_synthetic_faces(root / "gt", 6, SIZE, seed=3)
    return root


def _opts(root, **kw):
    opts = dict(
        dataroot_gt=str(root / "gt"), io_backend={"type": "disk"}, mean=[0.5] * 3, std=[0.5] * 3, out_size=SIZE,
        use_hflip=True, blur_kernel_size=41, kernel_list=["iso", "aniso"], kernel_prob=[0.5, 0.5],
        blur_sigma=[0.1, 10], downsample_range=[0.8, 8], noise_range=[0, 20], jpeg_range=[60, 100],
        color_jitter_prob=0.3, color_jitter_pt_prob=0.3, gray_prob=0.01, crop_components=True,
        component_path=str(root / "gt" / "components.json"), eye_enlarge_ratio=1.4,
    )  # fmt: skip
    opts.update(kw)
    return opts


def _equal(a, b):
    return all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a)


def test_build_from_registry_and_sample_format(faces):
    spec = {"type": "FFHQDegradationDataset", **_opts(faces), "name": "FFHQ", "phase": "train", "seed": 5}
    spec["blur_sigma"] = ["0.1", "10"]  # coerced by annotation
    ds = DATASETS.build(spec, where="datasets.train")
    assert len(ds) == 6 and ds.name == "FFHQ"
    s = ds[0]
    assert set(s) == {"lq", "gt", "gt_path", "loc_left_eye", "loc_right_eye", "loc_mouth"}
    for k in ("lq", "gt"):
        assert s[k].shape == (3, SIZE, SIZE) and s[k].dtype == torch.float32
        assert -1 <= s[k].min() and s[k].max() <= 1
    assert s["loc_mouth"].shape == (4,) and s["loc_mouth"].dtype == torch.float32
    assert s["gt_path"].endswith("00000000.png")
    # gt is the file, RGB, normalised (flip undone if needed)
    file_rgb = cv2.imread(s["gt_path"])[:, :, ::-1].astype(np.float32) / 255 * 2 - 1
    gt = s["gt"].permute(1, 2, 0).numpy()
    assert np.allclose(gt, file_rgb, atol=1e-6) or np.allclose(gt, file_rgb[:, ::-1], atol=1e-6)


def test_determinism_by_seed_epoch_index(faces):
    ds = FFHQDegradationDataset(**_opts(faces))
    a, b = ds[2], ds[(2, 0)]
    assert _equal(a, b)
    ds.epoch = 1
    assert _equal(ds[2], ds[(2, 1)]) and not torch.equal(ds[2]["lq"], a["lq"])
    other = FFHQDegradationDataset(**_opts(faces, seed=1))
    assert not torch.equal(other[(2, 0)]["lq"], a["lq"])


def test_same_batches_across_num_workers(faces):
    ds = FFHQDegradationDataset(**_opts(faces))
    batches = {}
    for workers in (0, 2):
        sampler = EnlargedSampler(len(ds), ratio=2, seed=7)
        sampler.set_epoch(3)
        loader = DataLoader(ds, batch_size=4, sampler=sampler, num_workers=workers)
        batches[workers] = list(loader)
    assert len(batches[0]) == 3
    for x, y in zip(batches[0], batches[2]):
        assert torch.equal(x["lq"], y["lq"]) and torch.equal(x["loc_left_eye"], y["loc_left_eye"])


def test_flip_mirrors_boxes_of_that_sample_only(faces):
    ds = FFHQDegradationDataset(**_opts(faces))
    comps = load_components(faces / "gt" / "components.json")
    cached = json.dumps(ds.components, sort_keys=True)
    flipped_seen = unflipped_seen = 0
    for epoch in range(6):
        for index in range(len(ds)):
            s = ds[(index, epoch)]
            img = cv2.imread(s["gt_path"])[:, :, ::-1].astype(np.float32) / 255 * 2 - 1
            flipped = not np.allclose(s["gt"].permute(1, 2, 0).numpy(), img, atol=1e-6)
            entry = comps[Path(s["gt_path"]).stem]
            want = component_boxes(entry, flipped, SIZE, 1.4)
            for part in ("left_eye", "right_eye", "mouth"):
                np.testing.assert_allclose(s[f"loc_{part}"].numpy(), want[part], atol=1e-4)
            if flipped:
                flipped_seen += 1
                rx = entry["right_eye"][0]
                assert abs(float(s["loc_left_eye"][0]) - (SIZE - rx - 1.4 * entry["right_eye"][2] + 1)) < 1e-3
            else:
                unflipped_seen += 1
    assert flipped_seen and unflipped_seen
    assert json.dumps(ds.components, sort_keys=True) == cached  # never mutated
    # boxes mirror the image: the left eye stays left of the right eye in both cases
    s = ds[(0, 0)]
    assert s["loc_left_eye"][0] < s["loc_right_eye"][0]


def test_official_landmark_layout_loads_safely(faces, tmp_path):
    official = {
        f"{i:08d}": {
            "left_eye": [np.float64(10.5 + i), np.float64(15.0), np.float64(16.0)],
            "right_eye": [np.float64(21.5), np.float64(15.0), np.float64(16.0)],
            "mouth": [np.float64(16.0), np.float64(24.0), np.float64(18.0)],
        }
        for i in range(6)
    }
    path = tmp_path / "FFHQ_eye_mouth_landmarks_512.pth"
    torch.save(official, path)
    with pytest.raises(pickle.UnpicklingError):  # the default safe loader refuses it: it really is that layout
        torch.load(path, weights_only=True)
    comps = load_components(path)
    assert comps["00000003"]["left_eye"] == (13.5, 15.0, 16.0)
    by_stem = load_components(path, stems=["a", "b"])
    assert set(by_stem) == {"a", "b"} and by_stem["b"]["left_eye"][0] == 11.5
    ds = FFHQDegradationDataset(**_opts(faces, component_path=str(path), use_hflip=False, eye_enlarge_ratio=1))
    s = ds[(3, 0)]
    np.testing.assert_allclose(s["loc_left_eye"].numpy(), [13.5 - 16 + 1, 15 - 16 + 1, 13.5 + 16, 15 + 16])

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pth"
    torch.save({"00000000": Evil()}, evil)
    with pytest.raises(pickle.UnpicklingError):
        load_components(evil)


def test_missing_component_entry_and_missing_root(faces, tmp_path):
    comp = tmp_path / "c.json"
    comp.write_text(json.dumps({"00000000": {"left_eye": [1, 2, 3], "right_eye": [1, 2, 3], "mouth": [1, 2, 3]}}))
    ds = FFHQDegradationDataset(**_opts(faces, component_path=str(comp)))
    with pytest.raises(KeyError, match="00000001"):
        ds[1]
    with pytest.raises(FileNotFoundError, match=r"dataroot_gt: .*nowhere"):
        FFHQDegradationDataset(**_opts(faces, dataroot_gt=str(tmp_path / "nowhere")))
    with pytest.raises(FileNotFoundError, match="component_path"):
        FFHQDegradationDataset(**_opts(faces, component_path=str(tmp_path / "none.json")))


def test_bad_images_size_and_formats(faces, tmp_path):
    gt = tmp_path / "gt"
    shutil.copytree(faces / "gt", gt)
    (gt / "00000002.png").write_bytes(b"\x89PNG not really")
    opts = _opts(tmp_path, crop_components=False)
    ds = FFHQDegradationDataset(**opts)
    with pytest.raises(BadImageError, match="00000002.png"):
        ds[2]
    ds = FFHQDegradationDataset(**opts, skip_bad_images=True)
    with pytest.warns(UserWarning, match="00000002.png"):
        s = ds[2]
    assert s["gt_path"].endswith("00000003.png") and ds.num_skipped == 1
    cv2.imwrite(str(gt / "00000002.png"), np.zeros((SIZE * 2, SIZE * 2, 3), np.uint8))
    with pytest.raises(ValueError, match="out_size"):
        FFHQDegradationDataset(**opts)[2]
    assert FFHQDegradationDataset(**opts, resize_gt=True)[2]["gt"].shape == (3, SIZE, SIZE)

    # gray, RGBA and 16-bit files
    rgb = np.random.default_rng(0).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    gray = decode_image(cv2.imencode(".png", rgb[:, :, 0])[1].tobytes())
    assert gray.shape == (8, 9, 3) and np.array_equal(gray[..., 0], gray[..., 2])
    rgba = np.dstack([rgb, np.full((8, 9), 7, np.uint8)])
    np.testing.assert_array_equal(decode_image(cv2.imencode(".png", rgba)[1].tobytes()), rgb / np.float32(255))
    deep = rgb.astype(np.uint16) * 257
    out16 = decode_image(cv2.imencode(".png", deep)[1].tobytes())
    assert out16.dtype == np.float32 and out16.max() <= 1
    np.testing.assert_allclose(out16, rgb / 255, atol=1e-6)
    with pytest.raises(BadImageError, match="broken.png"):
        decode_image(b"", "broken.png")


def test_lmdb_and_filelist_backends(faces, tmp_path):
    paths = sorted(str(p) for p in (faces / "gt").glob("*.png"))
    write_lmdb(paths, tmp_path / "faces.lmdb")
    disk = FFHQDegradationDataset(**_opts(faces))
    lmdb_ds = FFHQDegradationDataset(
        **_opts(faces, dataroot_gt=str(tmp_path / "faces.lmdb"), io_backend={"type": "lmdb"})
    )
    assert len(lmdb_ds) == 6
    a, b = disk[(4, 2)], lmdb_ds[(4, 2)]
    assert torch.equal(a["lq"], b["lq"]) and torch.equal(a["loc_mouth"], b["loc_mouth"])
    assert b["gt_path"] == "00000004"
    # lmdb datasets pickle (DataLoader workers) and reopen lazily
    assert torch.equal(pickle.loads(pickle.dumps(lmdb_ds))[(4, 2)]["lq"], b["lq"])

    listing = tmp_path / "list.txt"
    listing.write_text("00000005.png\n00000001.png\n")
    fl = FFHQDegradationDataset(**_opts(faces, io_backend={"type": "filelist", "meta_info_file": str(listing)}))
    assert len(fl) == 2 and fl[0]["gt_path"].endswith("00000005.png")
    with pytest.raises(ValueError, match="io_backend.type"):
        FFHQDegradationDataset(**_opts(faces, io_backend={"type": "memcached"}))


def test_synthetic_faces_option_generates_missing_root(tmp_path):
    opts = _opts(tmp_path, synthetic_faces={"num": 3, "size": SIZE, "seed": 9},
                 component_path=str(tmp_path / "comp" / "c.json"))  # fmt: skip
    ds = FFHQDegradationDataset(**opts)
    assert len(ds) == 3 and (tmp_path / "comp" / "c.json").is_file()
    assert ds[0]["loc_left_eye"].shape == (4,)


def test_paired_and_single_datasets(faces, tmp_path):
    lq = tmp_path / "lq"
    params = degrade_folder(faces / "gt", lq, seed=4)
    assert len(params) == 6
    ds = DATASETS.build({"type": "PairedImageDataset", "dataroot_gt": str(faces / "gt"), "dataroot_lq": str(lq),
                         "io_backend": {"type": "disk"}, "scale": 1, "mean": [0.5] * 3, "std": [0.5] * 3,
                         "phase": "val"}, where="datasets.val")  # fmt: skip
    s = ds[1]
    assert set(s) == {"lq", "gt", "lq_path", "gt_path"} and s["lq"].shape == (3, SIZE, SIZE)
    assert Path(s["lq_path"]).name == Path(s["gt_path"]).name == "00000001.png"
    file_lq = cv2.imread(s["lq_path"])[:, :, ::-1].astype(np.float32) / 255 * 2 - 1
    np.testing.assert_allclose(s["lq"].permute(1, 2, 0).numpy(), file_lq, atol=1e-6)

    # filename template, meta info file, train crops, Y channel
    tmpl = tmp_path / "lq_tmpl"
    tmpl.mkdir()
    for p in lq.glob("*.png"):
        shutil.copy(p, tmpl / f"{p.stem}_x1.png")
    meta = tmp_path / "meta.txt"
    meta.write_text("00000003.png (32,32,3)\n00000000.png (32,32,3)\n")
    ds = PairedImageDataset(str(faces / "gt"), str(tmpl), {"type": "disk"}, filename_tmpl="{}_x1",
                            meta_info_file=str(meta), gt_size=16, use_hflip=True, use_rot=True, phase="train",
                            color="y")  # fmt: skip
    s = ds[(0, 0)]
    assert len(ds) == 2 and s["lq"].shape == (1, 16, 16) and s["gt_path"].endswith("00000003.png")
    assert torch.equal(s["lq"], ds[(0, 0)]["lq"])
    with pytest.raises(FileNotFoundError, match="no LQ image"):
        PairedImageDataset(str(faces / "gt"), str(tmpl), {"type": "disk"})

    # lmdb pairs
    write_lmdb(sorted(str(p) for p in (faces / "gt").glob("*.png")), tmp_path / "gt.lmdb")
    write_lmdb(sorted(str(p) for p in lq.glob("*.png")), tmp_path / "lq.lmdb")
    dl = PairedImageDataset(str(tmp_path / "gt.lmdb"), str(tmp_path / "lq.lmdb"), {"type": "lmdb"})
    disk = PairedImageDataset(str(faces / "gt"), str(lq), {"type": "disk"})
    assert torch.equal(dl[5]["lq"], disk[5]["lq"]) and torch.equal(dl[5]["gt"], disk[5]["gt"])

    single = DATASETS.build({"type": "SingleImageDataset", "dataroot_lq": str(lq), "io_backend": {"type": "disk"}},
                            where="datasets.test")  # fmt: skip
    assert len(single) == 6 and set(single[0]) == {"lq", "lq_path"} and 0 <= single[0]["lq"].min()
    sl = SingleImageDataset(str(tmp_path / "lq.lmdb"), {"type": "lmdb"})
    assert torch.equal(sl[2]["lq"], single[2]["lq"])


def test_paired_synthetic_faces_option(tmp_path):
    faces = {"num": 3, "size": SIZE, "seed": 2, "degradation": {"noise_range": [0, 5]}}
    opts = dict(dataroot_gt=str(tmp_path / "gt"), dataroot_lq=str(tmp_path / "lq"), io_backend={"type": "disk"})
    opts["synthetic_faces"] = faces
    ds = PairedImageDataset(**opts)
    assert len(ds) == 3
    record = json.loads((tmp_path / "lq" / PARAMS_FILE).read_text())
    assert record["settings"]["noise_range"] == [0, 5]
    assert all(p["noise_sigma"] <= 5 for p in record["images"].values())
    with pytest.raises(ValueError, match="unknown degradation option"):
        bad = {**faces, "degradation": {"noize": 1}}
        PairedImageDataset(**{**opts, "dataroot_lq": str(tmp_path / "lq2"), "synthetic_faces": bad})


def test_degraded_testset_is_bit_reproducible(faces, tmp_path):
    a = degrade_folder(faces / "gt", tmp_path / "a", seed=11)
    b = degrade_folder(faces / "gt", tmp_path / "b", seed=11)
    assert a == b
    for p in (tmp_path / "a").glob("*.png"):
        assert p.read_bytes() == (tmp_path / "b" / p.name).read_bytes()
    # matches the training dataset's stream for (seed, epoch 0, index) without flip
    ds = FFHQDegradationDataset(**_opts(faces, use_hflip=False, seed=11, crop_components=False,
                                        color_jitter_prob=0.3, color_jitter_pt_prob=0.3, gray_prob=0.01))  # fmt: skip
    lq = cv2.imread(str(tmp_path / "a" / "00000002.png"))[:, :, ::-1].astype(np.float32) / 255 * 2 - 1
    np.testing.assert_allclose(ds[(2, 0)]["lq"].permute(1, 2, 0).numpy(), lq, atol=1e-6)
    c = degrade_folder(faces / "gt", tmp_path / "c", seed=12)
    assert c != a
