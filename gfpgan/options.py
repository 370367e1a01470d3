"""YAML option files -> validated, fully resolved options.

Every key is declared once below with its type, default and meaning (``SCHEMA``). Blocks with a ``type:`` (networks,
losses, datasets, metrics) are checked against the registered constructor's signature. Option files written for the
official GFPGAN/BasicSR trainer load unchanged (``!!float`` tags included); keys we accept only for compatibility are
marked so. Loading never executes anything: ``yaml.SafeLoader`` only.

    opts = load_options("options/train_gfpgan.yml", overrides=["train.optim_g.lr=1e-3"])
    opts.train.total_iter        # attribute access on the resolved options
    dump_options(opts)           # YAML text, as saved to experiments/<name>/options.yml

Two kinds of option files: training files (``train`` section + ``datasets.train``; train.py) and test files (neither;
at least one ``datasets.test*`` block; test.py). ``phase="auto"`` (the default) tells them apart by the ``train``
section and the ``datasets.train`` block.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import inspect
import math
import os
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from gfpgan.registry import ARCHS, DATASETS, LOSSES, METRICS, OPTIMIZERS, SCHEDULERS, OptionError, Registry, suggest

__all__ = [
    "Options",
    "OptionError",
    "SCHEMA",
    "apply_overrides",
    "check_kwargs",
    "coerce",
    "detect_phase",
    "dump_options",
    "load_options",
    "print_dry_run",
    "validate",
]

# ----------------------------------------------------------------------------------------------------------------------
# Value coercion by annotation


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """Return ``value`` converted to ``annotation`` where that is unambiguous, else raise OptionError.

    Scalar strings are parsed where the annotation asks for a number (YAML 1.1 reads ``2e-3`` as a string), lists
    become tuples for tuple annotations, and Literal/Optional/Union annotations are checked. Unannotated parameters
    and ``Any`` pass through unchanged.
    """
    if annotation is inspect.Parameter.empty or annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)

    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        # Try the exact-type member first so that e.g. `int | str` keeps a str a str.
        for arg in sorted((a for a in args if a is not type(None)), key=lambda a: not _is_instance(value, a)):
            with contextlib.suppress(OptionError):
                return coerce(value, arg, where)
        raise OptionError(f"{where}: {value!r} is not a valid {_type_name(annotation)}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise OptionError(
            f"{where}: {value!r} is not one of {list(args)}.{suggest(str(value), [str(a) for a in args])}"
        )
    if annotation is type(None):
        if value is None:
            return None
        raise OptionError(f"{where}: expected null (~), got {value!r}")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise OptionError(f"{where}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise OptionError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)  # `!!float 5e3` for an iteration count
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                if number.is_integer():
                    return int(number)
        raise OptionError(f"{where}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, bool):
            raise OptionError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise OptionError(f"{where}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise OptionError(f"{where}: expected a string, got {value!r}")
    if origin in (list, tuple, Sequence, typing.Sequence) or annotation in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise OptionError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise OptionError(f"{where}: expected {len(args)} values, got {len(value)} ({value!r})")
            return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or annotation is tuple else items
    if origin in (dict, Mapping, typing.Mapping) or annotation is dict:
        if not isinstance(value, Mapping):
            raise OptionError(f"{where}: expected a mapping, got {value!r}")
        if len(args) == 2:
            return {k: coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
        return dict(value)
    return value


def _is_instance(value: Any, annotation: Any) -> bool:
    try:
        return isinstance(value, annotation)
    except TypeError:
        return False


# ----------------------------------------------------------------------------------------------------------------------
# Signature checks


def _signature(obj: Callable) -> tuple[inspect.Signature, dict[str, Any]]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    signature = inspect.signature(target)
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: fall back to no coercion
        hints = {}
    return signature, hints


def check_kwargs(obj: Callable, kwargs: Mapping[str, Any], where: str, provided: Sequence[str] = ()) -> dict[str, Any]:
    """Check ``kwargs`` against ``obj``'s signature (a class's ``__init__``) and coerce them by annotation.

    Args:
        obj: the class or function the keyword arguments are for.
        kwargs: option values, usually one YAML block without its ``type`` key.
        where: the option path used in error messages, e.g. ``"network_g"``.
        provided: parameter names the caller passes itself (not required from the options).
    Returns:
        The coerced keyword arguments.
    """
    signature, hints = _signature(obj)
    params = {n: p for n, p in signature.parameters.items() if n != "self"}
    accepts_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = {
        n: p
        for n, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    label = getattr(obj, "__name__", repr(obj))
    out = {}
    for key, value in kwargs.items():
        if key not in named and not accepts_var_kw:
            raise OptionError(
                f"{where}.{key}: unknown option for {label}.{suggest(str(key), list(named))} "
                f"Known options: {', '.join(named) or '(none)'}."
            )
        out[key] = coerce(value, hints.get(key, inspect.Parameter.empty), f"{where}.{key}")
    missing = [
        n for n, p in named.items() if p.default is inspect.Parameter.empty and n not in out and n not in provided
    ]
    if missing:
        raise OptionError(f"{where}: missing required option(s) {', '.join(missing)} for {label}{signature}.")
    return out


# ----------------------------------------------------------------------------------------------------------------------
# The schema

REQUIRED = object()


@dataclass(frozen=True)
class Field:
    """One scalar/list option: its annotation (used for coercion), default and meaning."""

    type: Any
    default: Any = REQUIRED
    doc: str = ""
    compat_only: bool = False  # accepted because official option files carry it; has no effect here


@dataclass(frozen=True)
class Section:
    """A mapping of declared keys. ``optional`` sections may be absent (resolved to None)."""

    fields: dict[str, Any]
    doc: str = ""
    optional: bool = False


@dataclass(frozen=True)
class Spec:
    """A ``{type: Name, **kwargs}`` block checked against a registry.

    The resolved block lists every constructor argument: those the file gives, then the constructor's own defaults
    (plain values only), then ``defaults`` (values this schema declares where the constructor has none that fits,
    e.g. the official Adam betas).
    """

    registry: Registry
    default: Any = None  # None: the block may be absent
    doc: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MapOf:
    """A mapping of user-chosen names to blocks of one kind (datasets, metrics)."""

    item: Any
    doc: str = ""
    key_check: Any = None
    optional: bool = True


# Keys of a dataset block that configure the DataLoader rather than the dataset itself.
LOADER_FIELDS: dict[str, Field] = {
    "use_shuffle": Field(bool, True, "shuffle the training set (through the sampler)"),
    "num_worker_per_gpu": Field(int, 4, "DataLoader workers per process"),
    "batch_size_per_gpu": Field(int, 1, "batch size per process"),
    "dataset_enlarge_ratio": Field(int, 1, "repeat the training set this many times per epoch"),
    "prefetch_mode": Field(
        Literal["cpu", "cuda"] | None, None, "BasicSR prefetchers; DataLoader workers prefetch here", compat_only=True
    ),
    "num_prefetch_queue": Field(int, 1, "queue length of prefetch_mode cpu", compat_only=True),
    "pin_memory": Field(bool | None, None, "pin host memory; ~ = true on CUDA"),
    "persistent_workers": Field(bool, True, "keep workers alive across epochs"),
    "prefetch_factor": Field(int | None, None, "batches prefetched per worker (torch default when ~)"),
    "tune_malloc": Field(bool, True, "glibc: workers keep freed image buffers in their heap (gfpgan/data/worker.py)"),
}


_path_fields = {}
for _net in ("g", "d", "d_left_eye", "d_right_eye", "d_mouth", "identity"):
    _path_fields[f"pretrain_network_{_net}"] = Field(str | None, None, f"weights to initialise network_{_net} from")
    _path_fields[f"param_key_{_net}"] = Field(
        str | None,
        "params" if _net != "identity" else None,
        "key inside the checkpoint; ~ = auto (params_ema, params, raw)",
    )
    _path_fields[f"strict_load_{_net}"] = Field(bool | None, None, "strict key matching; ~ = true")

SCHEMA: dict[str, Any] = {
    "name": Field(str, REQUIRED, "experiment name; outputs go to experiments/<name>"),
    "model_type": Field(
        Literal["GFPGANModel", "StyleGAN2Model"],
        "GFPGANModel",
        "training procedure: GFPGANModel (gfpgan/train.py) or StyleGAN2Model (the prior, gfpgan/train_stylegan2.py)",
    ),
    "num_gpu": Field(int | Literal["auto"], "auto", "0 = CPU; auto = every visible CUDA device (1 per process)"),
    "manual_seed": Field(int, 0, "seed of Python/numpy/torch RNGs and of the data degradations"),
    "num_threads": Field(
        int | None, None, "torch intra-op threads per process (~ = torch's default, all cores); 1 on a shared machine"
    ),
    "find_unused_parameters": Field(bool, False, "DDP option; not needed by this trainer", compat_only=True),
    "datasets": MapOf(
        Spec(DATASETS),
        "phase name (train, val, val_2, test_1, ...) -> dataset block (dataset options + loader options)",
        key_check="phase",
    ),
    "network_g": Spec(ARCHS, REQUIRED, "generator"),
    "network_d": Spec(ARCHS, None, "global discriminator"),
    "network_d_left_eye": Spec(ARCHS, None, "left-eye component discriminator"),
    "network_d_right_eye": Spec(ARCHS, None, "right-eye component discriminator"),
    "network_d_mouth": Spec(ARCHS, None, "mouth component discriminator"),
    "network_identity": Spec(ARCHS, None, "identity (ArcFace) network for the identity loss; frozen"),
    "path": Section(
        {
            **_path_fields,
            "resume_state": Field(str | None, None, "a training_states/<iter>.state file to resume from"),
            "pretrain_model_g": Field(
                str | None, None, "older BasicSR name of pretrain_network_g (used when that is ~)"
            ),
            "strict_load": Field(bool | None, None, "older BasicSR name of strict_load_g (used when that is ~)"),
            "ignore_resume_networks": Field(
                list[str],
                [],
                "frozen networks (identity) are never in a training state; they always load from their pretrain file",
                compat_only=True,
            ),
            "experiments_root": Field(str | None, None, "default experiments/<name>"),
            "results_root": Field(str | None, None, "test.py outputs; default results/<name>"),
        },
        "paths of pretrained weights and resume state",
    ),
    "train": Section(
        {
            # The official betas when a block gives none; the D betas are then scaled for lazy R1 (d_lr_scaling).
            "optim_g": Spec(OPTIMIZERS, REQUIRED, "generator optimizer", defaults={"betas": [0.0, 0.99]}),
            "optim_d": Spec(OPTIMIZERS, None, "discriminator optimizer", defaults={"betas": [0.0, 0.99]}),
            "optim_component": Spec(
                OPTIMIZERS, None, "optimizer of each component discriminator", defaults={"betas": [0.9, 0.99]}
            ),
            "scheduler": Spec(SCHEDULERS, None, "learning-rate schedule (every optimizer)"),
            "total_iter": Field(int, REQUIRED, "iterations to train"),
            "warmup_iter": Field(int, -1, "linear warm-up iterations; -1 = none"),
            "pixel_opt": Spec(LOSSES, None, "pixel loss between output and GT"),
            "L1_opt": Spec(LOSSES, None, "criterion of the pyramid, component-style and identity losses"),
            "pyramid_loss_weight": Field(float, 0.0, "weight of each pyramid level's L1 (0 = off)"),
            "remove_pyramid_loss": Field(int | None, None, "drop the pyramid loss after this iteration (~ = never)"),
            "perceptual_opt": Spec(LOSSES, None, "VGG perceptual (+ style) loss"),
            "gan_opt": Spec(LOSSES, None, "adversarial loss of the global discriminator"),
            "r1_reg_weight": Field(float, 10.0, "R1 penalty weight (lazy, every net_d_reg_every iterations)"),
            "gan_component_opt": Spec(LOSSES, None, "adversarial loss of the component discriminators"),
            "comp_style_weight": Field(float, 0.0, "weight of the component Gram style loss (0 = off)"),
            "comp_feature_loss": Field(
                Literal["style", "matching"],
                "style",
                "loss on the component-D features: Gram style (the paper) or plain feature matching (Fig. 7 ablation)",
            ),
            "identity_weight": Field(float, 0.0, "weight of the ArcFace identity loss (0 = off)"),
            "net_d_iters": Field(int, 1, "update G every net_d_iters iterations"),
            "net_d_init_iters": Field(int, 0, "train only D for the first net_d_init_iters iterations"),
            "net_d_reg_every": Field(int, 16, "R1 every this many iterations (0 = never)"),
            "d_lr_scaling": Field(
                Literal["official", "stylegan2"],
                "official",
                "official: D lr as given, betas scaled by c=k/(k+1) (what the reference effectively does); "
                "stylegan2: lr and betas both scaled, as StyleGAN2's lazy regularisation intends",
            ),
            "ema_decay": Field(float, 0.5 ** (32 / 10000), "EMA decay of net_g_ema per iteration (official 0.9977844)"),
            "amp": Section(
                {
                    "enabled": Field(bool, False, "autocast the forward passes"),
                    "dtype": Field(Literal["bfloat16", "float16"], "bfloat16", "float16 uses a GradScaler"),
                },
                "mixed precision",
            ),
            "channels_last": Field(bool, False, "channels_last memory format for networks and batches"),
            "compile": Field(bool, False, "torch.compile the generator (R1 stays eager)"),
            "cudnn_benchmark": Field(bool, True, "torch.backends.cudnn.benchmark on CUDA"),
            "max_nonfinite_steps": Field(int, 10, "stop after this many non-finite losses in a row"),
            "skip_losses_without_weights": Field(
                bool, False, "drop perceptual/identity losses whose pretrained weights are absent (quickstart)"
            ),
            "ema_on_cpu": Field(bool, False, "keep net_g_ema on the CPU (saves GPU memory)"),
            # StyleGAN2Model (the prior): BasicSR's StyleGAN2 option names
            "path_reg_weight": Field(float, 2.0, "StyleGAN2Model: path-length regularisation weight (0 = off)"),
            "path_batch_shrink": Field(int, 2, "StyleGAN2Model: the path-length batch is batch // this"),
            "net_g_reg_every": Field(int, 4, "StyleGAN2Model: path-length regularisation every this many iterations"),
            "mixing_prob": Field(float, 0.9, "StyleGAN2Model: probability of style mixing (two latents) per batch"),
            "g_lr_scaling": Field(
                Literal["official", "stylegan2"],
                "official",
                "StyleGAN2Model: G's lazy-regularisation scaling, as d_lr_scaling for D (official: betas only)",
            ),
        },
        "training schedule, losses and speed switches (required in training files; absent in test files)",
    ),
    "val": Section(
        {
            "val_freq": Field(int, 5000, "validate every val_freq iterations"),
            "save_img": Field(bool, False, "save restored validation / test images"),
            "suffix": Field(str | None, None, "suffix of saved image names"),
            "pbar": Field(bool, False, "progress bar during validation"),
            "num_val_samples": Field(int, 16, "StyleGAN2Model: samples in the grid from fixed latents"),
            "num_fid_samples": Field(
                int, 1000, "StyleGAN2Model: generated samples scored by val.metrics (e.g. fid against a stats file)"
            ),
            "num_log_images": Field(
                int, 4, "faces in the validation picture (degraded | restored | GT), visualization/ and tensorboard"
            ),
            "metrics": MapOf(Spec(METRICS), "metric name -> metric block"),
        },
        "validation during training; in test files the metrics and save_img of test.py",
        optional=True,
    ),
    "logger": Section(
        {
            "print_freq": Field(int, 100, "log a line every print_freq iterations"),
            "save_checkpoint_freq": Field(int, 5000, "save models and training state every this many iterations"),
            "use_tb_logger": Field(bool, True, "write tensorboard scalars to tb_logger/<name>"),
            "keep_checkpoints": Field(int | None, None, "keep only the newest K training states and models (~ = all)"),
            "wandb": Section(
                {
                    "project": Field(str | None, None, "not supported; must be ~"),
                    "resume_id": Field(str | None, None, "not supported", compat_only=True),
                },
                optional=True,
            ),
        },
        "logging and saving",
    ),
    "dist_params": Section(
        {
            "backend": Field(str | None, None, "~ = nccl on CUDA, gloo on CPU"),
            "port": Field(int, 29500, "master port for the slurm launcher"),
            "timeout_minutes": Field(
                float, 30.0, "a collective that waits longer (a rank died or hung) fails with an error instead"
            ),
        },
        "distributed settings",
    ),
}


class Options(dict):
    """A dict with attribute access; unknown attributes name the nearest key."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"option {key!r} does not exist.{suggest(key, list(self))}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __deepcopy__(self, memo: dict) -> Options:
        return Options({k: copy.deepcopy(v, memo) for k, v in self.items()})

    def to_dict(self) -> dict:
        return _plain(self)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _wrap(value: Any) -> Any:
    if isinstance(value, Mapping):
        return Options({k: _wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------------------------------------
# Loading


class _DuplicateKeyError(yaml.YAMLError):
    """A mapping (at any depth) that names the same key twice; ``read_yaml`` turns it into an OptionError."""

    def __init__(self, key: Any, line: int, first_line: int) -> None:
        super().__init__(f"duplicate key {key!r} at line {line} (first at line {first_line})")
        self.key, self.line, self.first_line = key, line, first_line


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` (no dot) as a float, as YAML 1.2 does; ``!!float`` keeps working."""


class _FileLoader(_Loader):
    """``_Loader`` for option files: a key written twice in one mapping is an error (plain YAML keeps the last one
    silently). Keys brought in by a merge (``<<: *anchor``) may be overridden, as YAML intends."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._checked: set[int] = set()

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # SafeConstructor flattens every mapping (merging ``<<`` keys into node.value) before constructing it, and a
        # node's first flattening sees the keys exactly as written, so that is where duplicates are looked for.
        if id(node) not in self._checked:
            self._checked.add(id(node))
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node)
                try:
                    seen = key in first
                except TypeError:  # an unhashable key: the constructor reports it
                    continue
                if seen:
                    raise _DuplicateKeyError(key, key_node.start_mark.line + 1, first[key])
                first[key] = key_node.start_mark.line + 1
        super().flatten_mapping(node)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    __import__("re").compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        __import__("re").X,
    ),
    list("-+0123456789."),
)


def read_yaml(path: str | os.PathLike) -> dict:
    """Parse an option file into a plain dict; a missing file, invalid YAML, a key written twice in one mapping (at
    any depth) or a non-mapping top level raise OptionError naming the file (and the lines)."""
    path = Path(path)
    if not path.is_file():
        raise OptionError(f"option file {path} does not exist.")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=_FileLoader)  # noqa: S506  (a SafeLoader subclass)
    except _DuplicateKeyError as e:
        raise OptionError(
            f"{path}: duplicate key {e.key!r} at line {e.line} (first at line {e.first_line}): remove one of them."
        ) from e
    except yaml.YAMLError as e:
        raise OptionError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise OptionError(f"{path}: expected a mapping of options at the top level, got {type(data).__name__}.")
    return data


def parse_value(text: str) -> Any:
    """Parse an override value as YAML (``1e-3`` -> float, ``[1, 2]`` -> list, ``~`` -> None)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506


def apply_overrides(raw: dict, overrides: Sequence[str]) -> dict:
    """Apply ``a.b.c=value`` overrides to the raw option dict (before validation).

    A missing leaf may be created under an existing section (in the file or declared in SCHEMA); a missing
    intermediate section that is neither is an error with a suggestion.
    """
    raw = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise OptionError(f"--set {item!r}: expected KEY=VALUE, e.g. train.optim_g.lr=1e-3")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise OptionError(f"--set {item!r}: empty key component in {key!r}")
        node, schema = raw, SCHEMA
        for depth, part in enumerate(parts[:-1]):
            where = ".".join(parts[: depth + 1])
            known_here = list(node) + (list(schema) if isinstance(schema, dict) else [])
            if part not in node:
                declared = isinstance(schema, dict) and part in schema and isinstance(schema[part], (Section, MapOf))
                if not declared:
                    raise OptionError(
                        f"--set {item!r}: no section {where!r} in the options.{suggest(part, known_here)}"
                    )
                node[part] = {}
            if not isinstance(node[part], dict):
                raise OptionError(f"--set {item!r}: {where!r} is a value ({node[part]!r}), not a section.")
            node = node[part]
            schema = schema.get(part) if isinstance(schema, dict) else None
            schema = schema.fields if isinstance(schema, Section) else None
        node[parts[-1]] = parse_value(text)
    return raw


# ----------------------------------------------------------------------------------------------------------------------
# Validation


@dataclass
class Report:
    """What validation found that is not an error by itself."""

    missing_paths: list[str] = field(default_factory=list)  # "option.path: file" that do not exist
    unregistered: list[str] = field(default_factory=list)  # "option.path: Name" not registered (yet)
    notes: list[str] = field(default_factory=list)
    # missing_paths entry -> "download <url> into <folder>/" for known weight files (gfpgan.utils.weights)
    download_hints: dict[str, str] = field(default_factory=dict)
    data_problems: list[str] = field(default_factory=list)  # the data pre-flight's lines (train.py fills them)

    @property
    def problems(self) -> list[str]:
        """What stops a real run (a dry run only warns): unregistered names, then missing files (with where to download
        a known weight file from and the folder to put it in)."""
        missing = [f"{p} ({self.download_hints[p]})" if p in self.download_hints else p for p in self.missing_paths]
        registered = [f"not registered: {u}" for u in self.unregistered]
        return registered + [f"missing: {p}" for p in missing] + [f"data: {p}" for p in self.data_problems]


def _resolve(value: Any, schema: Any, where: str, report: Report) -> Any:
    if isinstance(schema, Field):
        return coerce(value, schema.type, where)
    if isinstance(schema, Section):
        if value is None and schema.optional:
            return None  # `val: ~` means no validation
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise OptionError(f"{where}: expected a section (mapping), got {value!r}")
        out = {}
        for key in value:
            if key not in schema.fields:
                raise OptionError(
                    f"{where + '.' if where else ''}{key}: unknown option.{suggest(str(key), list(schema.fields))} "
                    f"Known options here: {', '.join(schema.fields)}."
                )
        for key, sub in schema.fields.items():
            sub_where = f"{where}.{key}" if where else key
            if key in value:
                out[key] = _resolve(value[key], sub, sub_where, report)
            elif isinstance(sub, Section):
                out[key] = None if sub.optional else _resolve({}, sub, sub_where, report)
            elif isinstance(sub, MapOf):
                out[key] = {}
            else:
                default = sub.default
                if default is REQUIRED:
                    raise OptionError(f"{sub_where}: required option is missing ({sub.doc}).")
                out[key] = copy.deepcopy(default)
        return out
    if isinstance(schema, MapOf):
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise OptionError(f"{where}: expected a mapping of names to blocks, got {value!r}")
        out = {}
        for key, block in value.items():
            if schema.key_check == "phase" and str(key).split("_")[0] not in ("train", "val", "test"):
                raise OptionError(
                    f"{where}.{key}: dataset phase names start with train, val or test (e.g. val_2)."
                    + suggest(str(key), ["train", "val", "test"])
                )
            out[key] = _resolve(block, schema.item, f"{where}.{key}", report)
        return out
    if isinstance(schema, Spec):
        if value is None:
            return None
        return _resolve_spec(value, schema, where, report)
    raise TypeError(f"bad schema entry at {where}: {schema!r}")


def _resolve_spec(value: Any, spec: Spec, where: str, report: Report) -> dict:
    if not isinstance(value, Mapping) or "type" not in value:
        raise OptionError(f"{where}: expected a block with a 'type' key, got {value!r}")
    block = dict(value)
    name = block["type"]
    registry = spec.registry
    is_dataset = registry is DATASETS
    loader = {}
    if is_dataset:
        for key in list(block):
            if key in LOADER_FIELDS:
                loader[key] = coerce(block.pop(key), LOADER_FIELDS[key].type, f"{where}.{key}")
        for key, f in LOADER_FIELDS.items():
            loader.setdefault(key, copy.deepcopy(f.default))
        block.setdefault("phase", where.rsplit(".", 1)[-1].split("_")[0])
    for key, default in spec.defaults.items():
        block.setdefault(key, copy.deepcopy(default))
    if name not in registry:
        hint = suggest(str(name), registry.names())
        if hint:
            registry.get(name, where=f"{where}.type")  # raises with the suggestion: a typo is always an error
        report.unregistered.append(f"{where}.type: {name}")
        checked = {k: v for k, v in block.items() if k != "type"}
    else:
        obj = registry.get(name, where=f"{where}.type")
        kwargs = {k: v for k, v in block.items() if k != "type"}
        provided = {METRICS: ("device",), DATASETS: ("seed",), OPTIMIZERS: ("params",), SCHEDULERS: ("optimizer",)}
        provided = provided.get(registry, ())
        params = _parameters(obj)
        if is_dataset and "phase" not in params:
            kwargs.pop("phase")
        if registry is OPTIMIZERS:  # torch annotates lr and betas with Tensor unions: coerce the YAML forms here
            kwargs = _optimizer_numbers(kwargs, where)
        checked = check_kwargs(obj, kwargs, where, provided=provided)
        if registry is SCHEDULERS and "last_epoch" in checked:
            raise OptionError(f"{where}.last_epoch: not an option; a schedule resumes from the training state.")
        if obj.__module__.startswith("gfpgan."):  # our constructors: list their defaults (torch's vary by version)
            not_options = (*provided, "last_epoch")  # a schedule's position comes from the training state
            for key, p in params.items():
                if key not in checked and key not in not_options and _is_plain(p.default):
                    checked[key] = copy.deepcopy(p.default)
    out = {"type": name, **checked}
    if is_dataset:
        _check_loader(loader, where)
        out["loader"] = loader
    return out


def _parameters(obj: Callable) -> dict[str, inspect.Parameter]:
    """The keyword parameters of a class's constructor or a function (no self, no *args/**kwargs)."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {n: p for n, p in inspect.signature(target).parameters.items() if n != "self" and p.kind in kinds}


def _is_plain(value: Any) -> bool:
    """A default that YAML can hold (and the dumped options.yml reproduce): scalars, lists and mappings of them."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _optimizer_numbers(kwargs: dict, where: str) -> dict:
    """``lr`` and ``betas`` of an optimizer block as floats (``"2e-3"``, ``[0, 0.99]`` in YAML)."""
    kwargs = dict(kwargs)
    if "lr" in kwargs:
        kwargs["lr"] = coerce(kwargs["lr"], float, f"{where}.lr")
    if "betas" in kwargs:
        kwargs["betas"] = list(coerce(kwargs["betas"], tuple[float, float], f"{where}.betas"))
    return kwargs


# Option paths that name files or folders that must exist for a real run.
def _collect_paths(opts: dict, report: Report) -> None:
    from gfpgan.utils.weights import find_known, missing_hint

    def need(where: str, value: Any) -> None:
        if value and not Path(os.path.expanduser(str(value))).exists():
            report.missing_paths.append(f"{where}: {value}")
            known = find_known(str(value))
            if known is not None:  # an official weight file: say where to get it and where it goes
                report.download_hints[f"{where}: {value}"] = missing_hint(known, Path(str(value)).parent)

    for phase, ds in opts["datasets"].items():
        synthetic = ds.get("synthetic_faces")
        for key in ("dataroot_gt", "dataroot_lq", "meta_info_file", "component_path"):
            if key in ds and not synthetic:
                need(f"datasets.{phase}.{key}", ds[key])
    g = opts["network_g"]
    if g and g.get("decoder_load_path"):
        need("network_g.decoder_load_path", g["decoder_load_path"])
    train = opts["train"]
    optional = {"pretrain_network_identity"} if train and train["skip_losses_without_weights"] else set()
    for key, value in opts["path"].items():
        if (key.startswith("pretrain_network_") or key == "resume_state") and key not in optional:
            need(f"path.{key}", value)


Phase = Literal["auto", "train", "test"]


def detect_phase(raw: Mapping) -> Literal["train", "test"]:
    """``"train"`` for a file with a ``train`` section or a ``datasets.train`` block, else ``"test"``."""
    datasets = raw.get("datasets")
    has_train_set = isinstance(datasets, Mapping) and "train" in datasets
    return "train" if raw.get("train") is not None or has_train_set else "test"


def _test_schema() -> dict[str, Any]:
    """SCHEMA for test files: ``train`` optional (resolved to None when absent), ``param_key_g`` default auto."""
    path = SCHEMA["path"]
    fields = dict(path.fields)
    fields["param_key_g"] = Field(
        str | None, None, "key inside the checkpoint; ~ = auto (params_ema, params, raw); test files default to ~"
    )
    return {
        **SCHEMA,
        "path": Section(fields, path.doc, path.optional),
        "train": Section(SCHEMA["train"].fields, SCHEMA["train"].doc, optional=True),
    }


def validate(raw: dict, source: str = "<options>", phase: Phase = "auto") -> tuple[Options, Report]:
    """Validate raw options (after overrides) against SCHEMA; return the resolved options and a report.

    ``phase``: ``"train"`` (train.py: ``train`` and ``datasets.train`` required, training cross checks), ``"test"``
    (test.py: neither required, at least one ``datasets.test*`` block) or ``"auto"`` (see ``detect_phase``).
    Errors (unknown keys, bad values, unknown names with a close match) raise OptionError. Missing files and names no
    module registers are collected in the report: a dry run prints them, a real run refuses to start on them.
    """
    if phase not in ("auto", "train", "test"):
        raise ValueError(f"phase must be 'auto', 'train' or 'test', got {phase!r}")
    if phase == "auto":
        phase = detect_phase(raw)
    report = Report()
    for key in raw:
        if key not in SCHEMA:
            raise OptionError(f"{source}: unknown top-level option {key!r}.{suggest(str(key), list(SCHEMA))}")
    schema = SCHEMA if phase == "train" else _test_schema()
    resolved = _resolve(raw, Section(schema), "", report)
    if phase == "train":
        _cross_checks(resolved, report)
    else:
        _test_checks(resolved)
    _collect_paths(resolved, report)
    return _wrap(resolved), report


def _test_checks(opts: dict) -> None:
    """Cross-field checks of a test option file."""
    if not any(phase.startswith("test") for phase in opts["datasets"]):
        raise OptionError(
            "datasets: a test option file (no train section) needs at least one test* dataset block (test, test_1, "
            "...); a training file needs train and datasets.train."
        )
    val = opts["val"]
    if val is None or not (any(m is not None for m in val["metrics"].values()) or val["save_img"]):
        raise OptionError("val.metrics: a test option file needs at least one metric (or val.save_img: true).")


def _cross_checks(opts: dict, report: Report) -> None:
    train = opts["train"]
    if "train" not in opts["datasets"]:
        raise OptionError("datasets.train: a training dataset block is required.")
    path = opts["path"]
    if path["pretrain_model_g"] and not path["pretrain_network_g"]:  # older BasicSR files
        path["pretrain_network_g"] = path["pretrain_model_g"]
    if path["strict_load"] is not None and path["strict_load_g"] is None:
        path["strict_load_g"] = path["strict_load"]
    if opts["model_type"] == "StyleGAN2Model":
        _stylegan2_checks(opts)
    components = [opts[f"network_d_{c}"] for c in ("left_eye", "right_eye", "mouth")]
    if any(components) and not all(components):
        raise OptionError(
            "network_d_left_eye / network_d_right_eye / network_d_mouth: "
            "give all three component discriminators or none."
        )
    if all(components) and train["gan_component_opt"] is None and train["comp_style_weight"] <= 0:
        raise OptionError("train.gan_component_opt: component discriminators are configured but no component loss is.")
    if all(components) and not opts["datasets"]["train"].get("crop_components"):
        raise OptionError("datasets.train.crop_components: component discriminators need crop_components: true.")
    if all(components) and train["optim_component"] is None:
        raise OptionError("train.optim_component: component discriminators need an optimizer block.")
    if train["gan_opt"] is not None and opts["network_d"] is None:
        raise OptionError("network_d: train.gan_opt is set but no discriminator is configured.")
    if opts["network_d"] is not None and train["optim_d"] is None:
        raise OptionError("train.optim_d: network_d is configured but has no optimizer block.")
    if train["identity_weight"] > 0 and opts["network_identity"] is None:
        raise OptionError("network_identity: train.identity_weight > 0 needs an identity network.")
    if train["pyramid_loss_weight"] > 0 and train["L1_opt"] is None:
        raise OptionError("train.L1_opt: the pyramid loss (pyramid_loss_weight > 0) needs an L1_opt criterion.")
    if (train["identity_weight"] > 0 or train["comp_style_weight"] > 0) and train["L1_opt"] is None:
        raise OptionError("train.L1_opt: identity and component style losses need an L1_opt criterion.")
    if opts["logger"]["wandb"] and opts["logger"]["wandb"]["project"]:
        raise OptionError("logger.wandb.project: wandb is not supported; use tensorboard (logger.use_tb_logger).")
    for key in ("print_freq", "save_checkpoint_freq"):
        if opts["logger"][key] <= 0:
            raise OptionError(f"logger.{key}: must be a positive number of iterations, got {opts['logger'][key]}.")
    if opts["val"] is not None and opts["val"]["val_freq"] <= 0:
        raise OptionError(f"val.val_freq: must be positive, got {opts['val']['val_freq']}.")
    if train["total_iter"] <= 0:
        raise OptionError(f"train.total_iter: must be positive, got {train['total_iter']}.")
    if not 0.0 <= train["ema_decay"] < 1.0 or math.isnan(train["ema_decay"]):
        raise OptionError(f"train.ema_decay: must be in [0, 1), got {train['ema_decay']}.")
    for key in ("optim_g", "optim_d", "optim_component"):
        block = train[key]
        if block is not None and not block.get("lr", 0) >= 0:  # also rejects NaN
            raise OptionError(f"train.{key}.lr: must be >= 0, got {block['lr']}.")
    minimums = {"max_nonfinite_steps": 1, "net_d_iters": 1, "net_d_reg_every": 0, "net_d_init_iters": 0}
    for key, minimum in minimums.items():
        if train[key] < minimum:
            raise OptionError(f"train.{key}: must be >= {minimum}, got {train[key]}.")
    keep = opts["logger"]["keep_checkpoints"]
    if keep is not None and keep < 1:
        raise OptionError(f"logger.keep_checkpoints: must be >= 1 (or ~ to keep every state), got {keep}.")
    if opts["dist_params"]["timeout_minutes"] <= 0:
        raise OptionError(f"dist_params.timeout_minutes: must be > 0, got {opts['dist_params']['timeout_minutes']}.")
    _check_sizes(opts)


def _stylegan2_checks(opts: dict) -> None:
    """What the prior's procedure needs: a discriminator with its optimizer and GAN loss, sane regularisation."""
    train = opts["train"]
    for key, what in (
        ("network_d", "a discriminator"),
        ("train.optim_d", "a D optimizer"),
        ("train.gan_opt", "a GAN loss"),
    ):
        section, _, name = key.rpartition(".")
        if (opts[section][name] if section else opts[name]) is None:
            raise OptionError(f"{key}: model_type StyleGAN2Model needs {what}.")
    for key in ("network_d_left_eye", "network_identity", "network_d_right_eye", "network_d_mouth"):
        if opts[key] is not None:
            raise OptionError(f"{key}: not used by model_type StyleGAN2Model; remove it.")
    if not 0.0 <= train["mixing_prob"] <= 1.0:
        raise OptionError(f"train.mixing_prob: must be in [0, 1], got {train['mixing_prob']}.")
    for key, minimum in (("path_batch_shrink", 1), ("net_g_reg_every", 0)):
        if train[key] < minimum:
            raise OptionError(f"train.{key}: must be >= {minimum}, got {train[key]}.")
    if opts["val"] is not None and opts["val"]["num_val_samples"] < 1:
        raise OptionError(f"val.num_val_samples: must be >= 1, got {opts['val']['num_val_samples']}.")


def _check_sizes(opts: dict) -> None:
    """The face size of the training data, the generator and the discriminator agree."""
    size = opts["datasets"]["train"].get("out_size")
    for key in ("network_g", "network_d"):
        net = opts[key]
        if size is not None and net is not None and net.get("out_size") not in (None, size):
            raise OptionError(
                f"{key}.out_size: {net['out_size']} but datasets.train.out_size is {size}: the networks train on "
                f"{size} px faces; make them equal."
            )


def _check_loader(loader: dict, where: str) -> None:
    """DataLoader keys of one dataset block: what the real run would reject later, rejected now."""
    for key, minimum in (("batch_size_per_gpu", 1), ("num_worker_per_gpu", 0), ("dataset_enlarge_ratio", 1)):
        if loader[key] < minimum:
            raise OptionError(f"{where}.{key}: must be >= {minimum}, got {loader[key]}.")
    if loader["prefetch_factor"] is not None and loader["prefetch_factor"] < 1:
        raise OptionError(f"{where}.prefetch_factor: must be >= 1 (or ~), got {loader['prefetch_factor']}.")


def load_options(
    path: str | os.PathLike, overrides: Sequence[str] = (), debug: bool = False, phase: Phase = "auto"
) -> tuple[Options, Report]:
    """Read, override and validate an option file. ``debug`` applies the --debug changes (see ``apply_debug``);
    ``phase`` as in ``validate`` (test.py passes "test")."""
    raw = apply_overrides(read_yaml(path), overrides)
    try:
        opts, report = validate(raw, source=str(path), phase=phase)
    except OptionError as e:
        raise OptionError(str(e) if str(e).startswith(f"{path}:") else f"{path}: {e}") from None
    if debug:
        apply_debug(opts)
    return opts, report


def add_option_arguments(parser: argparse.ArgumentParser, example: str) -> None:
    """The option-file flags shared by train.py and test.py: ``--set K=V [K=V ...]`` (repeatable) and ``--dry-run``."""
    parser.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help=f"override options (values are YAML), e.g. --set {example}",
    )
    parser.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true", help="print resolved options")


def print_dry_run(opts: Options, report: Report, path: str | os.PathLike) -> None:
    """``--dry-run`` of train.py and test.py: the resolved options on stdout, each problem as a warning on stderr."""
    problems = report.problems
    print(dump_options(opts), end="")
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"# {path}: options valid" + (f" ({len(problems)} warning(s))" if problems else ""), file=sys.stderr)


def apply_debug(opts: Options) -> None:
    """--debug: name prefixed ``debug_``, frequent logging/saving/validation, no tensorboard."""
    if not opts.name.startswith("debug_"):
        opts.name = f"debug_{opts.name}"
    if opts.train is None:  # a test file: only the name changes
        return
    opts.logger.print_freq = 1
    opts.logger.save_checkpoint_freq = 8
    opts.logger.use_tb_logger = False
    if opts.val is not None:
        opts.val.val_freq = 8


def dump_options(opts: Mapping) -> str:
    """YAML text of resolved options (plain types, key order kept)."""
    return yaml.safe_dump(_plain(opts), sort_keys=False, default_flow_style=None, width=120)


def reference_markdown() -> str:
    """The option reference (docs/options.md), generated from SCHEMA: ``python -m gfpgan.options``."""
    rows = ["| option | type | default | meaning |", "|---|---|---|---|"]

    def type_name(t: Any) -> str:
        return str(t).replace("typing.", "").replace("<class '", "").replace("'>", "").replace("|", "\\|")

    def walk(schema: dict, prefix: str) -> None:
        for key, entry in schema.items():
            path = f"{prefix}{key}"
            if isinstance(entry, Field):
                default = "required" if entry.default is REQUIRED else f"`{entry.default!r}`"
                doc = entry.doc + (" (accepted for compatibility; no effect)" if entry.compat_only else "")
                rows.append(f"| `{path}` | {type_name(entry.type)} | {default} | {doc} |")
            elif isinstance(entry, Section):
                rows.append(f"| `{path}` | section{' (optional)' if entry.optional else ''} | | {entry.doc} |")
                walk(entry.fields, f"{path}.")
            elif isinstance(entry, Spec):
                kind = entry.registry.kind
                default = "required" if entry.default is REQUIRED else "~"
                rows.append(f"| `{path}` | `{{type: <{kind}>, ...}}` | {default} | {entry.doc} |")
            elif isinstance(entry, MapOf):
                rows.append(f"| `{path}.<name>` | `{{type: <{entry.item.registry.kind}>, ...}}` | | {entry.doc} |")

    walk(SCHEMA, "")
    loader = ["| dataset key | type | default | meaning |", "|---|---|---|---|"]
    for key, entry in LOADER_FIELDS.items():
        loader.append(f"| `{key}` | {type_name(entry.type)} | `{entry.default!r}` | {entry.doc} |")
    return "\n".join(
        [
            "# Option reference",
            "",
            "Generated from `gfpgan/options.py` (`python -m gfpgan.options > docs/options.md`). Blocks with a `type:`",
            "are checked against the registered class's constructor: `python -m gfpgan.registry` lists them all.",
            "Option files of the official GFPGAN/BasicSR trainer load unchanged.",
            "",
            *rows,
            "",
            "## Loader keys of a dataset block",
            "",
            "These sit in a `datasets.<phase>` block beside the dataset's own options and configure the DataLoader.",
            "",
            *loader,
            "",
        ]
    )


if __name__ == "__main__":
    print(reference_markdown(), end="")
