"""Options: every shipped file validates; official-style files load unchanged; overrides; unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gfpgan.options import OptionError, apply_overrides, dump_options, load_options, read_yaml, validate

REPO = Path(__file__).resolve().parents[2]
OPTION_FILES = sorted(str(p.relative_to(REPO)) for p in (REPO / "options").rglob("*.yml"))


@pytest.mark.parametrize("path", OPTION_FILES)
def test_every_option_file_validates(path):
    opts, report = load_options(REPO / path)
    assert opts.name and opts.network_g.type
    assert not report.unregistered, report.unregistered


def test_smoke_twins_mirror_every_training_file():
    real = {p.relative_to(REPO / "options") for p in (REPO / "options").rglob("*.yml") if "smoke" not in p.parts}
    smoke = {p.relative_to(REPO / "options" / "smoke") for p in (REPO / "options" / "smoke").rglob("*.yml")}
    training = {p for p in real if read_yaml(REPO / "options" / p).get("train") is not None}
    assert training <= smoke, f"missing smoke twins: {sorted(map(str, training - smoke))}"


# The option vocabulary of the official GFPGAN trainer (options/train_gfpgan_v1.yml of TencentARC/GFPGAN), as such a
# file writes it.
OFFICIAL = """
name: train_GFPGANv1_512
model_type: GFPGANModel
num_gpu: auto
manual_seed: 0
datasets:
  train:
    name: FFHQ
    type: FFHQDegradationDataset
    dataroot_gt: datasets/ffhq/ffhq_512
    io_backend: {type: disk}
    use_hflip: true
    mean: [0.5, 0.5, 0.5]
    std: [0.5, 0.5, 0.5]
    out_size: 512
    blur_kernel_size: 41
    kernel_list: ['iso', 'aniso']
    kernel_prob: [0.5, 0.5]
    blur_sigma: [0.1, 10]
    downsample_range: [0.8, 8]
    noise_range: [0, 20]
    jpeg_range: [60, 100]
    color_jitter_prob: 0.3
    color_jitter_shift: 20
    color_jitter_pt_prob: 0.3
    gray_prob: 0.01
    crop_components: true
    component_path: experiments/pretrained_models/FFHQ_eye_mouth_landmarks_512.pth
    eye_enlarge_ratio: 1.4
    use_shuffle: true
    num_worker_per_gpu: 6
    batch_size_per_gpu: 3
    dataset_enlarge_ratio: 1
    prefetch_mode: ~
  val:
    name: validation
    type: PairedImageDataset
    dataroot_lq: datasets/faces/validation/input
    dataroot_gt: datasets/faces/validation/reference
    io_backend: {type: disk}
    mean: [0.5, 0.5, 0.5]
    std: [0.5, 0.5, 0.5]
    scale: 1
network_g: {type: GFPGANv1, out_size: 512, num_style_feat: 512, channel_multiplier: 1, resample_kernel: [1, 3, 3, 1],
  decoder_load_path: experiments/pretrained_models/StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth, fix_decoder: true,
  num_mlp: 8, lr_mlp: 0.01, input_is_latent: true, different_w: true, narrow: 1, sft_half: true}
network_d: {type: StyleGAN2Discriminator, out_size: 512, channel_multiplier: 1, resample_kernel: [1, 3, 3, 1]}
network_d_left_eye: {type: FacialComponentDiscriminator}
network_d_right_eye: {type: FacialComponentDiscriminator}
network_d_mouth: {type: FacialComponentDiscriminator}
network_identity: {type: ResNetArcFace, block: IRBlock, layers: [2, 2, 2, 2], use_se: False}
path:
  pretrain_network_g: ~
  param_key_g: params_ema
  strict_load_g: ~
  pretrain_network_d: ~
  pretrain_network_d_left_eye: ~
  pretrain_network_d_right_eye: ~
  pretrain_network_d_mouth: ~
  pretrain_network_identity: experiments/pretrained_models/arcface_resnet18.pth
  resume_state: ~
  ignore_resume_networks: ['network_identity']
train:
  optim_g: {type: Adam, lr: !!float 2e-3}
  optim_d: {type: Adam, lr: !!float 2e-3}
  optim_component: {type: Adam, lr: !!float 2e-3}
  scheduler: {type: MultiStepLR, milestones: [600000, 700000], gamma: 0.5}
  total_iter: 800000
  warmup_iter: -1
  pixel_opt: {type: L1Loss, loss_weight: !!float 1e-1, reduction: mean}
  L1_opt: {type: L1Loss, loss_weight: 1, reduction: mean}
  pyramid_loss_weight: 1
  remove_pyramid_loss: 50000
  perceptual_opt:
    type: PerceptualLoss
    layer_weights: {'conv1_2': 0.1, 'conv2_2': 0.1, 'conv3_4': 1, 'conv4_4': 1, 'conv5_4': 1}
    vgg_type: vgg19
    use_input_norm: true
    perceptual_weight: !!float 1
    style_weight: 50
    range_norm: true
    criterion: l1
  gan_opt: {type: GANLoss, gan_type: wgan_softplus, loss_weight: !!float 1e-1}
  r1_reg_weight: 10
  gan_component_opt:
    {type: GANLoss, gan_type: vanilla, real_label_val: 1.0, fake_label_val: 0.0, loss_weight: !!float 1}
  comp_style_weight: 200
  identity_weight: 10
  net_d_iters: 1
  net_d_init_iters: 0
  net_d_reg_every: 16
val:
  val_freq: !!float 5e3
  save_img: true
  metrics:
    psnr: {type: calculate_psnr, crop_border: 0, test_y_channel: false}
logger:
  print_freq: 100
  save_checkpoint_freq: !!float 5e3
  use_tb_logger: true
  wandb: {project: ~, resume_id: ~}
dist_params: {backend: nccl, port: 29500}
find_unused_parameters: true
"""


@pytest.fixture
def official(tmp_path) -> Path:
    path = tmp_path / "train_gfpgan_v1.yml"
    path.write_text(OFFICIAL)
    return path


def test_official_file_loads_unchanged(official):
    opts, report = load_options(official)
    assert opts.train.optim_g.lr == pytest.approx(2e-3) and opts.val.val_freq == 5000
    assert opts.logger.save_checkpoint_freq == 5000 and isinstance(opts.logger.save_checkpoint_freq, int)
    assert opts.network_g.sft_half is True and opts.train.gan_opt.gan_type == "wgan_softplus"
    assert opts.datasets.train.loader.batch_size_per_gpu == 3
    assert "datasets.train.dataroot_gt: datasets/ffhq/ffhq_512" in report.missing_paths


def test_mistyped_key_names_path_and_suggests(tmp_path):
    text = OFFICIAL.replace("  pyramid_loss_weight: 1\n", "  pyramid_loss_weigth: 1\n")
    (tmp_path / "x.yml").write_text(text)
    with pytest.raises(
        OptionError, match=r"train\.pyramid_loss_weigth: unknown option\. Did you mean 'pyramid_loss_weight'"
    ):
        load_options(tmp_path / "x.yml")


def test_mistyped_arch_names_path_and_suggests(tmp_path):
    text = OFFICIAL.replace("network_g: {type: GFPGANv1,", "network_g: {type: GFPGANv1Clen,")
    (tmp_path / "x.yml").write_text(text)
    with pytest.raises(
        OptionError, match=r"network_g\.type: unknown arch 'GFPGANv1Clen'\. Did you mean 'GFPGANv1Clean'"
    ):
        load_options(tmp_path / "x.yml")


def test_wrong_constructor_key_for_arch(tmp_path):
    # The training network_g block cannot be used for GFPGANv1Clean verbatim (no resample_kernel / lr_mlp).
    text = OFFICIAL.replace("network_g: {type: GFPGANv1,", "network_g: {type: GFPGANv1Clean,")
    (tmp_path / "x.yml").write_text(text)
    with pytest.raises(OptionError, match=r"network_g\.resample_kernel: unknown option for GFPGANv1Clean"):
        load_options(tmp_path / "x.yml")


def test_unknown_top_level_and_phase(tmp_path):
    (tmp_path / "a.yml").write_text(OFFICIAL + "trian: {}\n")
    with pytest.raises(OptionError, match=r"unknown top-level option 'trian'\. Did you mean 'train'"):
        load_options(tmp_path / "a.yml")
    (tmp_path / "b.yml").write_text(OFFICIAL.replace("  val:\n    name: validation", "  vall:\n    name: validation"))
    with pytest.raises(OptionError, match=r"datasets\.vall: dataset phase names start with train, val or test"):
        load_options(tmp_path / "b.yml")


def test_overrides(official):
    opts, _ = load_options(
        official, overrides=["train.optim_g.lr=1e-3", "train.amp.enabled=true", "datasets.train.batch_size_per_gpu=2"]
    )
    assert opts.train.optim_g.lr == pytest.approx(1e-3) and opts.train.amp.enabled is True
    assert opts.datasets.train.loader.batch_size_per_gpu == 2
    raw = apply_overrides(read_yaml(official), ["train.new_leaf=3"])  # creating a leaf under a section is allowed...
    assert raw["train"]["new_leaf"] == 3
    with pytest.raises(OptionError, match="train.new_leaf: unknown option"):  # ...and validation then names it
        validate(raw)
    with pytest.raises(OptionError, match=r"no section 'trian'.*Did you mean 'train'"):
        apply_overrides(read_yaml(official), ["trian.total_iter=3"])
    with pytest.raises(OptionError, match="expected KEY=VALUE"):
        apply_overrides(read_yaml(official), ["train.total_iter"])


def test_bad_values_are_named(official):
    with pytest.raises(OptionError, match=r"train\.total_iter: expected an integer"):
        load_options(official, overrides=["train.total_iter=lots"])
    with pytest.raises(OptionError, match=r"train\.amp\.dtype: 'float8' is not one of"):
        load_options(official, overrides=["train.amp.dtype=float8"])


def test_cross_field_checks(official):
    with pytest.raises(OptionError, match="network_identity: train.identity_weight > 0 needs an identity network"):
        load_options(official, overrides=["network_identity=~"])
    with pytest.raises(OptionError, match="crop_components"):
        load_options(official, overrides=["datasets.train.crop_components=false"])


def test_yaml_is_safe(tmp_path):
    (tmp_path / "evil.yml").write_text("name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(OptionError, match="not valid YAML"):
        load_options(tmp_path / "evil.yml")


def test_plain_exponent_without_float_tag(official):
    raw = read_yaml(official)
    raw["train"]["optim_g"]["lr"] = "2e-3"  # YAML 1.1 string; coerced by the optimizer's annotation
    opts, _ = validate(raw)
    assert opts.train.optim_g.lr == pytest.approx(2e-3)


def test_debug_and_dump_roundtrip(official):
    opts, _ = load_options(official, debug=True)
    assert opts.name == "debug_train_GFPGANv1_512" and opts.logger.print_freq == 1 and opts.val.val_freq == 8
    assert not opts.logger.use_tb_logger
    again = yaml.safe_load(dump_options(opts))
    assert again["train"]["optim_g"]["lr"] == pytest.approx(2e-3)


def test_option_reference_doc_is_current():
    from gfpgan.options import reference_markdown

    doc = REPO / "docs" / "options.md"
    assert doc.read_text() == reference_markdown(), "regenerate: python -m gfpgan.options > docs/options.md"


def test_duplicate_top_level_key_names_both_lines(tmp_path):
    path = tmp_path / "x.yml"
    path.write_text("name: a\nlogger:\n  print_freq: 1\ntrain:\n  total_iter: 2\nlogger:\n  print_freq: 3\n")
    with pytest.raises(OptionError) as info:
        read_yaml(path)
    message = str(info.value)
    assert message == f"{path}: duplicate key 'logger' at line 6 (first at line 2): remove one of them."
    assert "\n" not in message


def test_duplicate_nested_key_and_flow_mapping(tmp_path):
    nested = tmp_path / "nested.yml"
    nested.write_text("train:\n  optim_g:\n    lr: 1.0e-3\n    type: Adam\n    lr: 2.0e-3\n")
    with pytest.raises(OptionError, match=r"nested\.yml: duplicate key 'lr' at line 5 \(first at line 3\)"):
        read_yaml(nested)
    flow = tmp_path / "flow.yml"
    flow.write_text("name: a\nio_backend: {type: disk, type: lmdb}\n")
    with pytest.raises(OptionError, match=r"duplicate key 'type' at line 2 \(first at line 2\)"):
        read_yaml(flow)


def test_merge_keys_may_be_overridden_and_set_values_are_not_checked(tmp_path):
    path = tmp_path / "merge.yml"
    path.write_text("base: &b\n  x: 1\n  y: 2\nderived:\n  <<: *b\n  x: 3\n")
    assert read_yaml(path) == {"base": {"x": 1, "y": 2}, "derived": {"x": 3, "y": 2}}
    raw = apply_overrides({"train": {}}, ["train.block={a: 1, a: 2}"])  # only files are checked
    assert raw["train"]["block"] == {"a": 2}
