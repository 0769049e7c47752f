"""Typed run configuration: dataclasses with defaults, named presets, YAML files, CLI overrides.

Precedence, lowest first: dataclass defaults < preset < YAML file < command-line flags.
Every field name is unique across the sections, so a YAML file may be flat (`lr: 0.001`) or
sectioned (`train: {lr: 0.001}`) and each field is one flag (`--lr 0.001`).
"""

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lmlab.errors import LmlabError
from lmlab.models.config import ModelConfig, opt


@dataclass
class TrainConfig:
    max_iters: int = opt(2000, 'optimizer steps')
    max_seconds: float = opt(0.0, 'stop after this many seconds of training steps (0: no limit); the cosine decay then follows the time spent, so the run ends at min_lr on any machine')
    batch_size: int = opt(12, 'sequences per micro-batch, per process')
    grad_accum: int = opt(1, 'micro-batches per optimizer step, per process')
    lr: float = opt(1e-3, 'peak learning rate')
    min_lr: float = opt(1e-4, 'learning rate at the end of the cosine decay')
    warmup_iters: int = opt(100, 'linear warmup steps')
    lr_decay_iters: int = opt(0, 'steps of cosine decay; 0 means max_iters')
    schedule: str = opt("cosine", 'cosine | constant')
    weight_decay: float = opt(0.1, 'AdamW decay, on matrices and embeddings only')
    beta1: float = opt(0.9, "AdamW beta1")
    beta2: float = opt(0.99, "AdamW beta2")
    grad_clip: float = opt(1.0, 'max global gradient norm; 0 disables clipping')
    eval_interval: int = opt(250, 'steps between evaluations and checkpoints')
    eval_iters: int = opt(20, 'batches per evaluation')
    log_interval: int = opt(10, 'steps between metric lines')
    dtype: str = opt("auto", 'auto | float32 | bfloat16 (autocast; auto picks bf16 where the hardware has it)')
    compile: bool = opt(False, 'torch.compile the model')
    device: str = opt("auto", 'auto | cpu | cuda | cuda:N')
    seed: int = opt(1337, "random seed (weights, batches, dropout)")
    progress: bool = opt(True, 'show a progress bar')
    carry_state: bool = opt(False, 'recurrent models: read the corpus in order and carry the hidden state across consecutive blocks')


@dataclass
class DataConfig:
    data: str = opt("web", 'a built-in corpus name (lmlab data list) or a path')
    tokenizer: str = opt("bpe", 'char | bpe | a path to a tokenizer.json')
    bpe_vocab_size: int = opt(4096, 'BPE vocabulary size, special tokens included')
    val_fraction: float = opt(0.1, 'the last part of the token stream held out for validation')
    cache_dir: str = opt("", 'token cache; empty means $LMLAB_CACHE or ~/.cache/lmlab')


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SECTIONS = {"model": ModelConfig, "train": TrainConfig, "data": DataConfig}

PRESETS = {
    "tiny": dict(  # seconds on a CPU: for tests and smoke runs
        n_layer=2, n_head=2, n_embd=32, block_size=32, tokenizer="char",
        max_iters=20, batch_size=4, lr=3e-3, warmup_iters=2, eval_interval=10, eval_iters=2, log_interval=5,
    ),
    "cpu-small": dict(  # the `lmlab run` default: a few minutes on 2 CPU cores
        n_layer=4, n_head=4, n_embd=256, block_size=128, pos_encoding="rope", norm="rmsnorm", mlp="swiglu", bias=False,
        tokenizer="bpe", bpe_vocab_size=4096, max_iters=1500, batch_size=16, lr=2e-3, min_lr=2e-4,
        warmup_iters=100, eval_interval=250, eval_iters=10,
    ),
    "shakespeare-char": dict(  # nanoGPT's CPU recipe (README, "I only have a macbook")
        n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0, tokenizer="char",
        max_iters=2000, lr_decay_iters=2000, batch_size=12, lr=1e-3, min_lr=1e-4, warmup_iters=100,
        beta2=0.99, eval_interval=250, eval_iters=20,
    ),
    "gpt2-124m": dict(  # GPT-2 small, for GPUs
        n_layer=12, n_head=12, n_embd=768, block_size=1024, bpe_vocab_size=50304, tokenizer="bpe",
        max_iters=600000, batch_size=12, grad_accum=40, lr=6e-4, min_lr=6e-5, warmup_iters=2000,
        beta2=0.95, eval_interval=2000, eval_iters=200, compile=True,
    ),
}


CHOICES = {
    "arch": ("gpt", "rnn", "lstm", "gru"),
    "pos_encoding": ("learned", "sinusoidal", "rope"),
    "norm": ("layernorm", "rmsnorm"),
    "mlp": ("gelu", "swiglu"),
    "attn_impl": ("auto", "sdpa", "math"),
    "schedule": ("cosine", "constant"),
    "dtype": ("auto", "float32", "bfloat16"),
}


def field_names() -> dict[str, str]:
    """Every config field -> its section."""
    return {f.name: section for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)}


def _coerce(name: str, value, typ, where: str):
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise LmlabError(f"{where}: {name} must be true or false, got {value!r}")
    try:
        if typ is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return typ(value)
    except (TypeError, ValueError):
        raise LmlabError(f"{where}: {name} must be {typ.__name__}, got {value!r}") from None


def flatten(overrides: dict, where: str) -> dict:
    """Accept flat or sectioned dicts; reject unknown keys, listing the valid ones."""
    names = field_names()
    flat = {}
    for key, value in (overrides or {}).items():
        if key in SECTIONS and isinstance(value, dict):
            flat.update(flatten(value, where))
        elif key.replace("-", "_") in names:
            flat[key.replace("-", "_")] = value
        else:
            raise LmlabError(f"{where}: unknown config key {key!r}; valid keys: {', '.join(sorted(names))}")
    return flat


def build_config(preset: str | None = None, config_file: str | None = None, overrides: dict | None = None, base: dict | None = None) -> RunConfig:
    """Merge base (a saved config) or defaults, a preset, a YAML file and overrides into a RunConfig."""
    merged = {}
    if base:
        merged.update(flatten(base, "saved config"))
    if preset:
        if preset not in PRESETS:
            raise LmlabError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
        merged.update(PRESETS[preset])
    if config_file:
        merged.update(flatten(load_yaml(config_file), config_file))
    merged.update(flatten(overrides or {}, "command line"))
    names, types = field_names(), {f.name: f.type for cls in SECTIONS.values() for f in dataclasses.fields(cls)}
    sections = {s: {} for s in SECTIONS}
    for key, value in merged.items():
        typ = types[key] if isinstance(types[key], type) else {"int": int, "float": float, "str": str, "bool": bool}[types[key]]
        value = _coerce(key, value, typ, config_file or "config")
        if key in CHOICES and value not in CHOICES[key]:
            raise LmlabError(f"{key} must be one of {', '.join(CHOICES[key])}, got {value!r}")
        sections[names[key]][key] = value
    return RunConfig(**{s: SECTIONS[s](**kw) for s, kw in sections.items()})


def load_yaml(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise LmlabError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise LmlabError(f"{path}: not valid YAML ({e})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise LmlabError(f"{path}: expected a mapping of config keys to values")
    return data

