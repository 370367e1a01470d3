"""The StyleGAN2 prior procedure end to end on generated faces: exact resume, the prior plugs into GFP-GAN (both arch
families), BasicSR's option vocabulary."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import pytest
import torch
import yaml

from gfpgan.options import OptionError, load_options
from gfpgan.train import main as train_main
from gfpgan.train_stylegan2 import train

REPO = Path(__file__).resolve().parents[2]
PRIOR = REPO / "options" / "smoke" / "train_stylegan2.yml"


def run(*overrides: str, auto_resume: bool = False, path: Path = PRIOR) -> dict:
    opts, report = load_options(path, overrides=["logger.use_tb_logger=false", *overrides])
    assert not report.problems, report.problems
    return train(opts, auto_resume=auto_resume)


def _state_tensors(exp: Path, it: int) -> dict[str, torch.Tensor]:
    state = torch.load(exp / "training_states" / f"{it}.state", weights_only=True)
    out = {f"{n}/{k}": v for n, sd in state["nets"].items() for k, v in sd.items()}
    out["mean_path_length"] = state["mean_path_length"]
    for name, opt in state["optimizers"].items():
        for pid, s in opt["state"].items():
            out.update({f"{name}/{pid}/{k}": v for k, v in s.items() if isinstance(v, torch.Tensor)})
    return out


def test_resume_reproduces_an_uninterrupted_run(workdir):
    """Resuming at 2 gives bit-identical networks, optimizer moments and path-length mean at 4 (R1 and path-length
    regularisation at 2 and 4, style mixing and layer noise from the restored RNG streams)."""
    common = ["val=~", "logger.save_checkpoint_freq=2", "logger.keep_checkpoints=~"]
    full = run("name=sg_full", "train.total_iter=4", *common)
    run("name=sg_split", "train.total_iter=2", *common)
    split = run("name=sg_split", "train.total_iter=4", *common, auto_resume=True)
    a, b = _state_tensors(full["exp"], 4), _state_tensors(split["exp"], 4)
    assert a.keys() == b.keys() and len(a) > 100
    assert float(a["mean_path_length"]) > 0  # the regulariser ran and its moving mean is part of the state
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]
    before = _state_tensors(split["exp"], 2)
    for net in ("net_g", "net_d", "net_g_ema"):  # a trainer that never steps would resume "exactly" too
        assert any(not torch.equal(before[k], a[k]) for k in a if k.startswith(f"{net}/")), net


@pytest.mark.parametrize(
    ("gfpgan_options", "prior_type", "channel_multiplier"),
    [("train_gfpgan.yml", "StyleGAN2Generator", 1), ("train_gfpgan_clean.yml", "StyleGAN2GeneratorClean", 2)],
)
def test_a_trained_prior_is_the_decoder_of_gfpgan(workdir, gfpgan_options, prior_type, channel_multiplier):
    """The smoke twins agree: the prior the framework trains loads as GFP-GAN's decoder (only decoder_load_path is
    overridden on the GFP-GAN side), and GFP-GAN trains with it."""
    name = f"prior_{prior_type}"
    raw = yaml.safe_load(PRIOR.read_text())  # the twin's prior, of the family and width GFP-GAN's decoder has
    raw["network_g"] = {k: v for k, v in raw["network_g"].items() if k not in ("resample_kernel", "lr_mlp")}
    if prior_type == "StyleGAN2Generator":
        raw["network_g"].update(resample_kernel=[1, 3, 3, 1], lr_mlp=0.01)
    raw["network_g"].update(type=prior_type, channel_multiplier=channel_multiplier)
    raw["network_d"]["channel_multiplier"] = channel_multiplier
    prior_yml = workdir / f"{name}.yml"
    prior_yml.write_text(yaml.safe_dump(raw))
    prior = run(f"name={name}", "val=~", path=prior_yml)
    prior_file = prior["exp"] / "models" / "net_g_2.pth"
    saved = torch.load(prior_file, weights_only=True)
    assert set(saved) == {"params", "params_ema"}
    argv = ["-opt", str(REPO / "options" / "smoke" / gfpgan_options), "--set", f"name=gfpgan_{name}", "val=~",
            f"network_g.decoder_load_path={prior_file}", "train.total_iter=2",
            "logger.use_tb_logger=false"]  # fmt: skip
    assert train_main(argv) == 0
    state = torch.load(workdir / "experiments" / f"gfpgan_{name}" / "training_states" / "2.state", weights_only=True)
    decoder = {k.removeprefix("stylegan_decoder."): v for k, v in state["nets"]["net_g"].items()
               if k.startswith("stylegan_decoder.")}  # fmt: skip
    if gfpgan_options == "train_gfpgan.yml":  # fix_decoder: the decoder is the prior's EMA, unchanged by training
        assert all(torch.equal(decoder[k], v) for k, v in saved["params_ema"].items() if not k.startswith("noises."))
    else:
        assert decoder.keys() >= {k for k in saved["params_ema"] if not k.startswith("noises.")}


BASICSR_STYLEGAN2 = """
name: train_StyleGAN2_256_Cmul2_FFHQ_800k
model_type: StyleGAN2Model
num_gpu: 8
manual_seed: 0
datasets:
  train:
    name: FFHQ
    type: FFHQDataset
    dataroot_gt: datasets/ffhq/ffhq_256.lmdb
    io_backend:
      type: lmdb
    use_hflip: true
    mean: [0.5, 0.5, 0.5]
    std: [0.5, 0.5, 0.5]
    use_shuffle: true
    num_worker_per_gpu: 6
    batch_size_per_gpu: 3
    dataset_enlarge_ratio: 100
    prefetch_mode: ~
network_g:
  type: StyleGAN2Generator
  out_size: 256
  num_style_feat: 512
  num_mlp: 8
  channel_multiplier: 2
  resample_kernel: [1, 3, 3, 1]
  lr_mlp: 0.01
network_d:
  type: StyleGAN2Discriminator
  out_size: 256
  channel_multiplier: 2
  resample_kernel: [1, 3, 3, 1]
path:
  pretrain_model_g: ~
  strict_load: true
  resume_state: ~
train:
  optim_g:
    type: Adam
    lr: !!float 2e-3
  optim_d:
    type: Adam
    lr: !!float 2e-3
  scheduler:
    type: MultiStepLR
    milestones: [600000]
    gamma: 0.5
  total_iter: 800000
  warmup_iter: -1  # no warm up
  gan_opt:
    type: GANLoss
    gan_type: wgan_softplus
    loss_weight: !!float 1
  r1_reg_weight: 10
  path_batch_shrink: 2
  path_reg_weight: 2
  net_g_reg_every: 4
  net_d_reg_every: 16
  mixing_prob: 0.9
  net_d_iters: 1
  net_d_init_iters: 0
val:
  val_freq: !!float 5e3
  save_img: true
logger:
  print_freq: 100
  save_checkpoint_freq: !!float 5e3
  use_tb_logger: true
  wandb:
    project: ~
    resume_id: ~
dist_params:
  backend: nccl
  port: 29500
"""


def test_basicsr_stylegan2_option_file_dry_runs_unchanged(tmp_path, capsys):
    """BasicSR's StyleGAN2 256 px / cm 2 configuration (its keys and values, written out here) validates as it is;
    a typo'd key fails with a suggestion."""
    path = tmp_path / "train_StyleGAN2_256_Cmul2_FFHQ_800k.yml"
    path.write_text(BASICSR_STYLEGAN2)
    assert train_main(["-opt", str(path), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "model_type: StyleGAN2Model" in out.out and "options valid" in out.err
    opts, _ = load_options(path)
    assert opts.train.net_g_reg_every == 4 and opts.train.mixing_prob == 0.9 and opts.path.strict_load_g is True
    path.write_text(BASICSR_STYLEGAN2.replace("path_reg_weight: 2", "path_reg_weigth: 2"))
    with pytest.raises(OptionError, match="path_reg_weigth: unknown option. Did you mean 'path_reg_weight'"):
        load_options(path)


def test_validation_scores_generated_samples_and_writes_the_grid(workdir):
    """val.metrics over val.num_fid_samples generated faces (FID against a statistics file, seeded Inception
    weights), one metrics.jsonl line per validation, and the sample grid from fixed latents as a PNG."""
    import json

    import numpy as np

    sys.path.insert(0, str(REPO / "tests" / "unit"))
    from test_metrics_seeded import seeded_state_dict

    from gfpgan.metrics import fid

    shapes = {k: tuple(v.shape) for k, v in fid.FIDInceptionV3().state_dict().items()}
    torch.save(seeded_state_dict(shapes, seed=0), workdir / "inception_seeded.pth")
    rng = np.random.default_rng(0)
    fid.save_fid_stats(workdir / "stats.npz", rng.normal(size=2048), np.eye(2048), 10, "a seeded reference")
    block = {"type": "fid", "stats": str(workdir / "stats.npz"), "weights": str(workdir / "inception_seeded.pth")}
    result = run("name=sg_val", "val.num_fid_samples=3", f"val.metrics.fid={json.dumps(block)}")
    exp = result["exp"]
    assert np.isfinite(result["validation"]["fid"]) and result["validation"]["fid"] > 0
    line = json.loads((exp / "metrics.jsonl").read_text().splitlines()[-1])
    assert line["iter"] == 2 and line["samples"]["fid"] == result["validation"]["fid"]
    grid = cv2.imread(str(exp / "visualization" / "samples_00000002.png"))
    assert grid is not None and grid.shape == (128, 128, 3)  # 4 samples of 64 px, 2 x 2
