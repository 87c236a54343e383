"""Typed experiment configuration.

Frozen dataclasses loaded from YAML with ``yaml.safe_load``. Unknown keys, wrong types and
invalid values fail at load time with the key's dotted path and the valid choices. Only
``build_*`` functions and ``tools/`` read a config; everything else takes explicit arguments.
"""

import copy
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import math

import yaml

from posedy.safe_load import InputFormatError, parse_yaml
from posedy import architectures


class ConfigError(ValueError):
    """A configuration problem; the message names the file (when known) and the dotted key."""


# Bounds on sizes a config sets, far above any paper setting, so that a typo fails at load
# instead of allocating until the machine kills the process.
MAX_INT = 2**53
MAX_NUM_KERNELS = 64
MAX_SIDE = 4096
MAX_BATCH_SIZE = 65536
MAX_NUM_JOINTS = 1000

# Keys that moved: old dotted key -> its place now. In a YAML file or an override an old key is
# an error naming the new one; a config stored by an older version (a checkpoint's ``config``) is
# moved into the current layout by ``migrate_stored_config``.
MOVED_KEYS = {f"data.{key}": f"data.augment.{key}"
              for key in ("scale_factor", "rotation_factor", "rotation_prob", "flip", "flip_prob",
                          "half_body_prob", "half_body_min_joints", "upper_body_prob", "photometric")}


@dataclass(frozen=True)
class BackboneConfig:
    name: str
    width_mult: float = 1.0
    depth_mult: float = 1.0
    dynamic: bool = False
    num_kernels: int = 4
    # MobileNetV3-Small: keep squeeze-and-excitation (Table 7).
    se: bool = True
    # MobileNetV2: which convolutions of each bottleneck are dynamic (Table 5: C1 expand,
    # C2 depthwise, C3 project).
    dynamic_positions: tuple = architectures.DYNAMIC_POSITIONS

    def validate(self, path: str) -> None:
        _choice(f"{path}.name", self.name, architectures.BACKBONES)
        widths = architectures.BACKBONES[self.name].widths
        if widths is not None:
            _choice(f"{path}.width_mult", self.width_mult, widths)
        if not 0.0 < self.depth_mult <= 1.0:
            raise ConfigError(f"{path}.depth_mult: must be in (0, 1], got {self.depth_mult}")
        _in_range(f"{path}.num_kernels", self.num_kernels, 1, MAX_NUM_KERNELS)
        for pos in self.dynamic_positions:
            _choice(f"{path}.dynamic_positions", pos, architectures.DYNAMIC_POSITIONS)
        _only_where_taken(path, architectures.BACKBONES, self.name, self.settings())

    def settings(self) -> dict:
        """The architecture-specific settings (``architectures.SETTINGS``) by name."""
        return dict(width_mult=self.width_mult, depth_mult=self.depth_mult, se=self.se,
                    dynamic_positions=tuple(self.dynamic_positions))


@dataclass(frozen=True)
class HeadConfig:
    name: str
    dynamic: bool = False
    num_kernels: int = 4
    # Type-B only: scales Table 9's channel widths (1.0 is the paper's head). The CPU demo uses
    # a narrow head, since the full head costs 0.9 GMAdds per 256x192 crop.
    width_mult: float = 1.0
    # Type-B only: True reads Table 9 literally (the first bottleneck expands the backbone's
    # output with a 1x1 conv); False, the default, is the reading that reproduces Table 10.
    first_expand: bool = False

    def validate(self, path: str) -> None:
        _choice(f"{path}.name", self.name, architectures.HEADS)
        reason = architectures.HEADS[self.name].static_reason
        if self.dynamic and reason:
            raise ConfigError(f"{path}.dynamic: {reason}")
        _in_range(f"{path}.num_kernels", self.num_kernels, 1, MAX_NUM_KERNELS)
        if not 0.0 < self.width_mult <= 1.0:
            raise ConfigError(f"{path}.width_mult: must be in (0, 1], got {self.width_mult}")
        _only_where_taken(path, architectures.HEADS, self.name, self.settings())

    def settings(self) -> dict:
        """The architecture-specific settings (``architectures.SETTINGS``) by name."""
        return dict(width_mult=self.width_mult, first_expand=self.first_expand)


@dataclass(frozen=True)
class ModelConfig:
    backbone: BackboneConfig
    head: HeadConfig
    num_joints: int = 17
    # Softmax temperature the dynamic layers start with (the paper's pose setting is 30).
    temperature: float = 30.0
    attention: str = "softmax"
    # How each dynamic layer's K kernels start: "independent" (each drawn on its own, like a
    # static kernel) or "copies" (kernels 1..K-1 copies of kernel 0:
    # posedy.layers.dynamic_conv.copy_first_kernel).
    kernel_init: str = "independent"

    def validate(self, path: str) -> None:
        self.backbone.validate(f"{path}.backbone")
        self.head.validate(f"{path}.head")
        _in_range(f"{path}.num_joints", self.num_joints, 1, MAX_NUM_JOINTS)
        if self.temperature <= 0:
            raise ConfigError(f"{path}.temperature: must be positive, got {self.temperature}")
        _choice(f"{path}.attention", self.attention, ("softmax", "sigmoid"))
        _choice(f"{path}.kernel_init", self.kernel_init, ("independent", "copies"))


@dataclass(frozen=True)
class AugmentConfig:
    """``data.augment``: HRNet's training augmentation (``posedy.data.augment.AugmentPolicy``).

    A probability or factor of 0 disables its step; ``flip: false`` is ``flip_prob`` 0.
    """

    scale_factor: float = 0.35
    rotation_factor: float = 45.0
    rotation_prob: float = 0.6
    flip: bool = True
    flip_prob: float = 0.5
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8
    upper_body_prob: float = 0.7
    photometric: bool = False

    def validate(self, path: str) -> None:
        for key in ("rotation_prob", "flip_prob", "half_body_prob", "upper_body_prob"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"{path}.{key}: must be a probability in [0, 1], got {getattr(self, key)}")
        for key in ("scale_factor", "rotation_factor"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{path}.{key}: must be >= 0, got {getattr(self, key)}")


@dataclass(frozen=True)
class DataConfig:
    root: str = "data/coco"
    train_ann: str = "annotations/person_keypoints_train2017.json"
    val_ann: str = "annotations/person_keypoints_val2017.json"
    train_images: str = "images/train2017"
    val_images: str = "images/val2017"
    det_file: str = "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"
    # Crop and heatmap sizes are (w, h).
    image_size: tuple = (192, 256)
    heatmap_size: tuple = (48, 64)
    sigma: float = 2.0
    # "hrnet": Gaussian on the rounded pixel, cut at 3 sigma (HRNet's generate_target);
    # "subpixel": centred at the exact location (pairs with test.post_process: dark).
    target_encoding: str = "hrnet"
    # Ground-truth box cleaning: "hrnet" (x2 = min(W-1, x1 + max(0, w-1))) or "mmpose" (clip).
    gt_box_rule: str = "hrnet"
    box_padding: float = 1.25
    # Training augmentation (the val split is never augmented).
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    use_joint_weights: bool = False
    # -1: from the machine (posedy.data.loader_workers: the CPUs of this process's share of the
    # node, less one for the main process, at most 16); 0 loads in the main process.
    num_workers: int = -1
    persistent_workers: bool = True
    skip_corrupt_images: bool = False
    # An annotation's file_name must stay inside its image folder (no absolute path, no "..")
    # unless this is set, e.g. for a dataset whose file names point into a shared store.
    allow_outside_image_paths: bool = False

    def validate(self, path: str) -> None:
        for key in ("image_size", "heatmap_size"):
            size = getattr(self, key)
            if len(size) != 2 or any((not isinstance(v, int)) or isinstance(v, bool) or v <= 0 for v in size):
                raise ConfigError(f"{path}.{key}: must be two positive integers (w, h), got {list(size)}")
            if max(size) > MAX_SIDE:
                raise ConfigError(f"{path}.{key}: sides must be <= {MAX_SIDE}, got {list(size)}")
        if self.image_size[0] * self.heatmap_size[1] != self.image_size[1] * self.heatmap_size[0]:
            raise ConfigError(f"{path}.heatmap_size: {list(self.heatmap_size)} does not have the aspect "
                              f"ratio of image_size {list(self.image_size)}")
        for key in ("sigma", "box_padding"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{path}.{key}: must be positive, got {getattr(self, key)}")
        self.augment.validate(f"{path}.augment")
        if self.num_workers < -1:
            raise ConfigError(f"{path}.num_workers: must be >= 0, or -1 for one per CPU, got {self.num_workers}")
        _choice(f"{path}.target_encoding", self.target_encoding, ("hrnet", "subpixel"))
        _choice(f"{path}.gt_box_rule", self.gt_box_rule, ("hrnet", "mmpose"))

    def resolve(self, key: str) -> Path:
        """Path of ``key`` (e.g. ``"val_ann"``) joined to ``root`` unless it is absolute."""
        value = Path(getattr(self, key))
        return value if value.is_absolute() else Path(self.root) / value


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 210
    # Images per optimizer step over all processes (HRNet: 32 per GPU on 4 GPUs = 128); split
    # evenly over the processes of a torchrun job, an error when it does not divide.
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    lr_steps: tuple = (170, 200)
    lr_factor: float = 0.1
    # Linear warmup (mmpose's schedule): the first warmup_iters steps train at lr times a factor
    # rising linearly from warmup_ratio to 1. 0: none (HRNet and the paper).
    warmup_iters: int = 0
    warmup_ratio: float = 0.001
    # Temperature schedule: "constant" keeps model.temperature; "linear" anneals from
    # model.temperature to tau_end over tau_anneal_epochs, per iteration (Section 4.2).
    tau_schedule: str = "constant"
    tau_end: float = 1.0
    tau_anneal_epochs: float = 10.0
    # "linear" only: epochs at model.temperature before the annealing starts (0: the paper).
    tau_hold_epochs: float = 0.0
    # Learning rate of the dynamic layers' attention branches relative to train.lr (1: the
    # paper). A short schedule gives the attention logits few steps to grow (docs/training.md).
    attention_lr_mult: float = 1.0
    use_target_weight: bool = True
    ohkm: bool = False
    ohkm_topk: int = 8
    val_interval: int = 10
    checkpoint_interval_iters: int = 0
    log_interval: int = 50
    seed: int = 0
    deterministic: bool = False
    amp: bool = False
    # Batches and 4-D weights in channels_last memory format, on any device (CPU step times with
    # and without: docs/training.md, "Several processes").
    channels_last: bool = False
    sync_bn: bool = False
    max_iters_per_epoch: int = 0

    def validate(self, path: str) -> None:
        _in_range(f"{path}.epochs", self.epochs, 1, 100_000)
        _in_range(f"{path}.batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        _in_range(f"{path}.seed", self.seed, 0, 2**32 - 1)
        _choice(f"{path}.optimizer", self.optimizer, ("adam", "adamw", "sgd"))
        _choice(f"{path}.tau_schedule", self.tau_schedule, ("constant", "linear"))
        if self.lr <= 0:
            raise ConfigError(f"{path}.lr: must be positive, got {self.lr}")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in self.lr_steps):
            raise ConfigError(f"{path}.lr_steps: must be epoch numbers (integers >= 0), got {list(self.lr_steps)}")
        if list(self.lr_steps) != sorted(self.lr_steps):
            raise ConfigError(f"{path}.lr_steps: must be increasing, got {list(self.lr_steps)}")
        if self.lr_factor <= 0:
            raise ConfigError(f"{path}.lr_factor: must be positive, got {self.lr_factor}")
        _in_range(f"{path}.warmup_iters", self.warmup_iters, 0, 10_000_000)
        if not 0 < self.warmup_ratio <= 1:
            raise ConfigError(f"{path}.warmup_ratio: must be in (0, 1], got {self.warmup_ratio}")
        for key in ("weight_decay", "momentum", "tau_anneal_epochs"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{path}.{key}: must be >= 0, got {getattr(self, key)}")
        if self.tau_end <= 0:
            raise ConfigError(f"{path}.tau_end: must be positive, got {self.tau_end}")
        if not 0 <= self.tau_hold_epochs < self.epochs:
            raise ConfigError(f"{path}.tau_hold_epochs: must be in [0, train.epochs), got {self.tau_hold_epochs}")
        if not 0 < self.attention_lr_mult <= 1000:
            raise ConfigError(f"{path}.attention_lr_mult: must be in (0, 1000], got {self.attention_lr_mult}")
        for key in ("ohkm_topk", "val_interval"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{path}.{key}: must be >= 1, got {getattr(self, key)}")
        for key in ("checkpoint_interval_iters", "max_iters_per_epoch", "log_interval"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{path}.{key}: must be >= 0, got {getattr(self, key)}")


@dataclass(frozen=True)
class TestConfig:
    batch_size: int = 32
    flip: bool = True
    shift_heatmap: bool = True
    post_process: str = "quarter"
    use_gt_boxes: bool = False
    det_score_thr: float = 0.0
    keypoint_score_thr: float = 0.2
    oks_thr: float = 0.9
    # Detection boxes are used as given (HRNet); true clips them to the image first.
    clip_det_boxes: bool = False
    # OKS-NMS order among equal scores: "hrnet" (scores.argsort()[::-1], HRNet's oks_nms) or
    # "stable" (input order, independent of NumPy's sort implementation).
    nms_tie_order: str = "hrnet"

    def validate(self, path: str) -> None:
        _in_range(f"{path}.batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        _choice(f"{path}.post_process", self.post_process, ("quarter", "dark", "argmax"))
        _choice(f"{path}.nms_tie_order", self.nms_tie_order, ("hrnet", "stable"))
        for key in ("det_score_thr", "keypoint_score_thr", "oks_thr"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"{path}.{key}: must be in [0, 1], got {getattr(self, key)}")


@dataclass(frozen=True)
class ExperimentConfig:
    model: ModelConfig
    name: str = "experiment"
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    test: TestConfig = field(default_factory=TestConfig)

    def validate(self, path: str = "") -> None:
        self.model.validate("model")
        self.data.validate("data")
        self.train.validate("train")
        self.test.validate("test")
        # The heads upsample the stride-32 backbone output by 8 (three x2 stages); a crop side
        # that is not a multiple of 32 is rounded up by the backbone and the heatmap then no
        # longer matches the target.
        if any(v % 32 for v in self.data.image_size):
            raise ConfigError(f"data.image_size: {list(self.data.image_size)} must be multiples of 32 "
                              f"(the backbone's stride), e.g. {[-(-v // 32) * 32 for v in self.data.image_size]}")
        expected = (self.data.image_size[0] // 4, self.data.image_size[1] // 4)
        if tuple(self.data.heatmap_size) != expected:
            raise ConfigError(f"data.heatmap_size: {list(self.data.heatmap_size)} does not match the head's "
                              f"output {list(expected)} for image_size {list(self.data.image_size)} (stride 4)")


def _in_range(path: str, value, lo, hi) -> None:
    if value < lo:
        raise ConfigError(f"{path}: must be >= {lo}, got {value}")
    if value > hi:
        raise ConfigError(f"{path}: must be <= {hi}, got {value}")


def _only_where_taken(path: str, table: dict, name: str, settings: dict) -> None:
    """A setting that only some architectures have must not be silently ignored by the others."""
    for key, value in architectures.unsupported_settings(table, name, settings):
        shown = list(value) if isinstance(value, tuple) else value
        raise ConfigError(f"{path}.{key}: only {' and '.join(architectures.owners(table, key))} has "
                          f"{architectures.SETTINGS[key][0]}, got {shown!r} for {name}")


def _choice(path: str, value, valid) -> None:
    if value not in valid:
        raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(str, valid))}")


def _convert(value, annotation, path: str):
    """Check ``value`` against a field annotation, converting lists to tuples."""
    if dataclasses.is_dataclass(annotation):
        return _from_dict(annotation, value, path)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected a boolean, got {type(value).__name__} {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {type(value).__name__} {value!r}")
        if abs(value) > MAX_INT:
            raise ConfigError(f"{path}: {value} is out of range (|value| <= {MAX_INT})")
        return value
    if annotation is float:
        if isinstance(value, str):
            # PyYAML (YAML 1.1) reads ``1e-3`` as a string; accept what float() reads as a number.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {type(value).__name__} {value!r}")
        # No setting means anything at NaN or infinity; refusing them here covers every key.
        if not math.isfinite(value):
            raise ConfigError(f"{path}: must be a finite number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {type(value).__name__} {value!r}")
        return value
    if annotation is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__} {value!r}")
        for item in value:
            if isinstance(item, (dict, list)):
                raise ConfigError(f"{path}: expected a list of scalars, got {value!r}")
            if isinstance(item, float) and not math.isfinite(item):
                raise ConfigError(f"{path}: must hold finite numbers, got {value!r}")
        return tuple(value)
    raise ConfigError(f"{path}: unsupported annotation {annotation!r}")


def _from_dict(cls, data, path: str):
    if not isinstance(data, dict):
        where = path or "top level"
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        dotted = f"{path}.{key}" if path else str(key)
        if key not in names:
            if dotted in MOVED_KEYS:
                raise ConfigError(f"{dotted}: moved to {MOVED_KEYS[dotted]}; write it under "
                                  f"{MOVED_KEYS[dotted].rsplit('.', 1)[0]}")
            raise ConfigError(f"{dotted}: unknown key; valid keys: {', '.join(names)}")
        kwargs[key] = _convert(value, hints[key], dotted)
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.name not in kwargs:
            dotted = f"{path}.{f.name}" if path else f.name
            raise ConfigError(f"{dotted}: required field missing")
    return cls(**kwargs)


def _set_dotted(tree: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def parse_override(text: str):
    """``"train.lr=0.01"`` -> ``("train.lr", 0.01)``; the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE with a dotted key")
    key, raw = text.split("=", 1)
    try:
        value = parse_yaml(raw) if raw != "" else ""
    except InputFormatError as exc:
        raise ConfigError(f"override {text!r}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc.__class__.__name__})") from None
    return key.strip(), value


def migrate_stored_config(tree: dict) -> dict:
    """A stored plain-dict config (a checkpoint's ``config``) in the current layout.

    Each old key of ``MOVED_KEYS`` is moved to its new place (``data.scale_factor`` ->
    ``data.augment.scale_factor``); the values are unchanged. An old key whose new place is
    already set is left where it is, so that loading reports it. ``tree`` is not modified.
    """
    tree = copy.deepcopy(tree)
    for old, new in MOVED_KEYS.items():
        *old_parents, old_leaf = old.split(".")
        *new_parents, new_leaf = new.split(".")
        source = _section(tree, old_parents, create=False)
        if source is None or old_leaf not in source:
            continue
        target = _section(tree, new_parents, create=True)
        if target is None or new_leaf in target:
            continue
        target[new_leaf] = source.pop(old_leaf)
    return tree


def _section(tree, parts, create: bool):
    """The nested dict at ``parts`` of ``tree`` (made if ``create``), or None where there is none."""
    node = tree
    for part in parts:
        if not isinstance(node, dict):
            return None
        if part not in node and create:
            node[part] = {}
        node = node.get(part)
    return node if isinstance(node, dict) else None


def config_from_dict(data: dict, overrides=()) -> ExperimentConfig:
    """Build and validate an ExperimentConfig from a plain dict plus ``KEY=VALUE`` overrides."""
    tree = dict(data or {})
    tree = yaml.safe_load(yaml.safe_dump(tree))  # deep copy of plain data
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
    cfg = _from_dict(ExperimentConfig, tree, "")
    cfg.validate()
    return cfg


def load_experiment(path, overrides=()) -> ExperimentConfig:
    """Load an experiment YAML, apply dotted overrides, validate.

    Raises:
        ConfigError: one line naming the file and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    try:
        data = parse_yaml(text)
    except InputFormatError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level, got {type(data).__name__}")
    try:
        return config_from_dict(data, overrides)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def config_to_dict(cfg) -> dict:
    """Plain nested dict (lists for tuples), suitable for YAML/JSON and checkpoints."""
    return _asdict(cfg)


def _asdict(obj):
    if dataclasses.is_dataclass(obj):
        return {f.name: _asdict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_asdict(v) for v in obj]
    return obj

