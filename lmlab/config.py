"""Typed configs: one dataclass per stage over shared sections, named presets, YAML files, CLI flags.

A config class (PretrainConfig, SFTConfig, TranslateConfig, CompareConfig, ...) is a dataclass whose
fields are sections, each a dataclass of fields with defaults and --help text. Every training
stage's config extends StageConfig, which brings the `train` section (TrainConfig: optimizer,
schedule, precision, device, seed) that the one training loop reads, the way TRL's DPOConfig
extends the shared training arguments. A class's defaults live in its section factories and its
PRESETS are named dicts of field values, so `--preset` means one thing per command.

Precedence, lowest first: defaults < a saved run (on --resume) < preset < YAML file < flags.
Within one config class every field name is unique across its sections, so a YAML file may be
flat (`lr: 0.001`) or sectioned (`train: {lr: 0.001}`) and each field is one flag (`--lr`).
"""

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import yaml

from lmlab.errors import LmlabError


def opt(default, help: str = "", choices: tuple | None = None):
    """A config field with its --help text and, optionally, the values it accepts."""
    return field(default=default, metadata={"help": help, "choices": choices})


def derived(default, help: str):
    """A field set by the code (e.g. vocab_size from the tokenizer), not a flag."""
    return field(default=default, metadata={"help": help, "derived": True})


@dataclass
class TrainConfig:
    """The shared training arguments: what the one training loop (lmlab.trainer) reads."""

    max_iters: int = opt(2000, "optimizer steps")
    max_seconds: float = opt(
        0.0,
        "stop after this many seconds of training steps (0: no limit); the cosine decay then follows the time "
        "spent, so the run ends at min_lr on any machine",
    )
    batch_size: int = opt(12, "sequences (or pairs) per micro-batch, per process")
    grad_accum: int = opt(1, "micro-batches per optimizer step, per process")
    lr: float = opt(1e-3, "peak learning rate")
    min_lr: float = opt(1e-4, "learning rate at the end of the cosine decay")
    warmup_iters: int = opt(100, "linear warmup steps")
    lr_decay_iters: int = opt(0, "steps of cosine decay; 0 means max_iters")
    schedule: str = opt("cosine", "cosine | constant", ("cosine", "constant"))
    optimizer: str = opt(
        "adamw",
        "adamw | muon (Muon for the hidden layers' matrices, AdamW for the rest: lmlab.optim)",
        ("adamw", "muon"),
    )
    weight_decay: float = opt(0.1, "decoupled decay, on matrices and embeddings only (AdamW and Muon)")
    beta1: float = opt(0.9, "AdamW beta1")
    beta2: float = opt(0.99, "AdamW beta2")
    muon_lr: float = opt(8e-3, "Muon's peak learning rate, in AdamW's units (update RMS 0.2 lr: lmlab.optim)")
    muon_momentum: float = opt(0.95, "Muon's Nesterov momentum")
    grad_clip: float = opt(1.0, "max global gradient norm; 0 disables clipping")
    eval_interval: int = opt(250, "steps between evaluations and checkpoints")
    keep_checkpoints: int = opt(1, "how many of the latest checkpoints to keep in RUN/ckpt (older ones are deleted)")
    eval_iters: int = opt(20, "batches per evaluation")
    log_interval: int = opt(10, "steps between metric lines")
    dtype: str = opt(
        "auto",
        "auto | float32 | bfloat16 (autocast; auto picks bf16 where the hardware has it)",
        ("auto", "float32", "bfloat16"),
    )
    compile: bool = opt(False, "torch.compile the model")
    activation_checkpointing: bool = opt(
        False, "recompute each block's activations in the backward pass: less memory, about a third more compute"
    )
    parallel: str = opt(
        "ddp",
        "ddp | fsdp: how the processes torchrun starts share the work; ddp: each holds the whole model; fsdp: each "
        "holds 1/N of the weights, gradients and optimizer state (FSDP2), and checkpoints are sharded",
        ("ddp", "fsdp"),
    )
    fsdp_offload: bool = opt(
        False, "with --parallel fsdp on GPUs: keep the sharded weights and optimizer state in CPU memory"
    )
    device: str = opt("auto", "auto | cpu | cuda | cuda:N")
    seed: int = opt(1337, "random seed (weights, batches, dropout)")
    progress: bool = opt(True, "show a progress bar")


@dataclass
class Config:
    """Sections of fields, built from defaults, a preset, a YAML file and overrides (module docstring)."""

    PRESETS: ClassVar[dict[str, dict]] = {}

    @classmethod
    def section_types(cls) -> dict[str, type]:
        defaults = cls()
        return {f.name: type(getattr(defaults, f.name)) for f in dataclasses.fields(cls)}

    @classmethod
    def fields(cls) -> dict[str, tuple[str, dataclasses.Field]]:
        """Every field name -> (its section, the dataclass field)."""
        return {f.name: (s, f) for s, typ in cls.section_types().items() for f in dataclasses.fields(typ)}

    @classmethod
    def flatten(cls, values: dict | None, where: str) -> dict:
        """Accept flat or sectioned dicts; reject unknown keys, listing the valid ones."""
        names, sections = cls.fields(), cls.section_types()
        flat = {}
        for key, value in (values or {}).items():
            key = str(key).replace("-", "_")
            if key in sections and isinstance(value, dict):
                flat.update(cls.flatten(value, where))
            elif key in names:
                flat[key] = value
            else:
                raise LmlabError(f"{where}: unknown config key {key!r}; valid keys: {', '.join(sorted(names))}")
        return flat

    @classmethod
    def build(
        cls,
        preset: str | None = None,
        config_file: str | None = None,
        overrides: dict | None = None,
        base: dict | None = None,
    ):
        """Merge defaults, base (a saved run's sections), a preset, a YAML file and overrides."""
        merged = cls.flatten(base, "saved config")
        if preset:
            if preset not in cls.PRESETS:
                raise LmlabError(f"unknown preset {preset!r}; presets: {', '.join(cls.PRESETS) or 'none'}")
            merged.update(cls.flatten(cls.PRESETS[preset], f"preset {preset}"))
        if config_file:
            merged.update(cls.flatten(load_yaml(config_file), config_file))
        merged.update(cls.flatten(overrides, "command line"))
        config, names = cls(), cls.fields()
        for key, value in merged.items():
            section, f = names[key]
            setattr(getattr(config, section), key, coerce(f, value, config_file or "config"))
        return config

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class StageConfig(Config):
    """A training stage's config: the shared `train` section plus the stage's own sections."""

    STAGE: ClassVar[str] = ""
    train: TrainConfig = field(default_factory=TrainConfig)


def field_type(f: dataclasses.Field) -> type:
    """The field's type, also where annotations are strings."""
    return f.type if isinstance(f.type, type) else {"int": int, "float": float, "str": str, "bool": bool}[f.type]


def coerce(f: dataclasses.Field, value, where: str):
    """value as the field's type (from YAML or a flag), checked against its choices."""
    name, typ = f.name, field_type(f)
    if typ is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            value = value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise LmlabError(f"{where}: {name} must be true or false, got {value!r}")
    else:
        try:
            if typ is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            value = typ(value)
        except (TypeError, ValueError):
            raise LmlabError(f"{where}: {name} must be {typ.__name__}, got {value!r}") from None
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise LmlabError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def section_from_dict(cls, values: dict, where: str):
    """One section dataclass from a saved dict (a run record), every value checked."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise LmlabError(f"{where}: unknown keys {', '.join(unknown)}")
    return cls(**{k: coerce(names[k], v, where) for k, v in values.items()})


def load_yaml(path: str | Path) -> dict:
    """A YAML file of config keys (or a run record) as a dict; anything else is one line naming file:line:column."""
    p = Path(path)
    if not p.is_file():
        raise LmlabError(f"{path}: config file not found")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise LmlabError(f"{path}: cannot read the file ({e.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")  # a leading BOM, as some editors write, is not part of the YAML
    except UnicodeDecodeError as e:
        line, column = raw.count(b"\n", 0, e.start) + 1, e.start - raw.rfind(b"\n", 0, e.start)
        raise LmlabError(
            f"{path}:{line}:{column}: not UTF-8 text (invalid byte 0x{raw[e.start]:02x}; expected a YAML file)"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise LmlabError(f"{path}:{_yaml_error(e, text)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        raise LmlabError(f"{path}: expected a mapping of config keys to values")
    return data


def _yaml_error(e: yaml.YAMLError, text: str) -> str:
    """PyYAML's several-line message as "line:column: not valid YAML (problem, context started at line:column)"."""
    if isinstance(e, yaml.reader.ReaderError):  # a character YAML does not allow (control bytes, NUL)
        line = text.count("\n", 0, e.position) + 1
        column = e.position - text.rfind("\n", 0, e.position)
        return f"{line}:{column}: not valid YAML (character U+{e.character:04X}: {e.reason})"
    mark, context, context_mark = (getattr(e, k, None) for k in ("problem_mark", "context", "context_mark"))
    where = f"{mark.line + 1}:{mark.column + 1}: " if mark else " "
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    if context:
        started = f" started at {context_mark.line + 1}:{context_mark.column + 1}" if context_mark else ""
        problem += f", {context}{started}"
    return f"{where}not valid YAML ({problem})"
