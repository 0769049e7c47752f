"""Low-rank adaptation (LoRA; Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models").

A frozen linear layer W (out, in) learns only a low-rank update (eq. 3):
    h = W x + (alpha / r) B A dropout(x),      A (r, in), B (out, r), r << min(in, out)
A starts Kaiming-uniform and B at zero (sec. 4.1), so an adapted model starts exactly as its base. Only A and B, and
the modules named in `lora_train` (PEFT's modules_to_save: the output head, the embeddings), carry gradients and
optimizer state; the base weights carry none. A stage's new heads (a reward model's score, PPO's value head) are
always trained in full: they start at zero and have no base to adapt.

The layers here, not peft's: peft wraps each adapted layer in a new module and moves its weight to
`c_attn.base_layer.weight`, so every checkpoint, weight hash, export, GGUF writer and inspection that reads the base by
its own name would need a second path. Here A and B are child modules of the adapted layer itself (`c_attn.lora_A`,
`c_attn.lora_B`) and a forward hook adds their term: the base keeps its names and state dict, the CPU decoding path of
lmlab's Linear stays, and the adapter's names are PEFT's, so its files are PEFT's format (adapter_model.safetensors
with keys base_model.model.NAME.lora_A.weight, adapter_config.json; peft itself loads them: tests/test_lora.py).

Which layers (lora_targets): "attention" (the fused query/key/value projection c_attn and the output projection
attn.c_proj), "mlp" (mlp.c_fc, the fused gate/up projection under SwiGLU, and mlp.c_proj), "all", or a comma list of
those names. A fused projection takes one A and one B; its export to transformers' separate q/k/v (or gate/up) layers
is exact: each gets the same A and its rows of B (lmlab.interop.peft).

The frozen base in bf16 (lora_base_dtype bfloat16, the CPU's analogue of QLoRA's 4-bit base, Dettmers et al. 2023):
the blocks' linear weights are stored in bf16, adapters stay fp32. Under bf16 autocast the matmuls read those weights
in bf16 either way, so the numbers are the same; what changes is memory (half the blocks' weights) and the per-step
casts autocast no longer makes. Embeddings, norms and the head keep their precision.
"""

import contextlib
import json
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from lmlab.config import opt
from lmlab.errors import LmlabError

TARGETS = {"attention": ("attn.c_attn", "attn.c_proj"), "mlp": ("mlp.c_fc", "mlp.c_proj")}
TARGETS["all"] = TARGETS["attention"] + TARGETS["mlp"]
LAYER_NAMES = {"c_attn": "attn.c_attn", "c_fc": "mlp.c_fc", **{name: name for name in TARGETS["all"]}}
TRAINABLE = {"head": "lm_head", "embeddings": "wte"}  # lora_train's names -> module names (modules_to_save)
PREFIX = "base_model.model."  # PEFT's key prefix: the adapter of a PeftModel wrapping the base model
ADAPTER_FILE, ADAPTER_CONFIG = "adapter_model.safetensors", "adapter_config.json"


@dataclass
class LoraSection:
    """The LoRA settings every fine-tuning stage takes (lmlab.stages.recipe applies them)."""

    lora: bool = opt(False, "train low-rank adapters on the frozen base, not every weight (any --lora-* implies it)")
    lora_rank: int = opt(16, "LoRA rank r (TRL's default)")
    lora_alpha: float = opt(32.0, "LoRA alpha: the update is (alpha / r) B A (TRL's default)")
    lora_dropout: float = opt(0.0, "dropout on the adapters' input")
    lora_targets: str = opt("all", "attention, mlp, all, or a comma list of c_attn, attn.c_proj, c_fc, mlp.c_proj")
    lora_train: str = opt("", "also train in full (PEFT's modules_to_save): a comma list of head, embeddings")
    lora_base_dtype: str = opt(
        "float32", "the frozen base's block weights: float32, or bfloat16 (needs bf16 autocast; module docstring)",
        ("float32", "bfloat16"),
    )  # fmt: skip

    @property
    def enabled(self) -> bool:
        return self.lora


def target_names(spec: str) -> tuple[str, ...]:
    """lora_targets as module-name suffixes, or one line listing what it accepts."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in LAYER_NAMES and n not in TARGETS]
    if unknown or not names:
        raise LmlabError(
            f"lora_targets: unknown layer {', '.join(unknown) or repr(spec)}; expected a comma list of attention, mlp, "
            f"all, {', '.join(LAYER_NAMES)}"
        )
    return tuple(dict.fromkeys(t for n in names for t in TARGETS.get(n, (LAYER_NAMES.get(n),))))


def trained_names(spec: str) -> tuple[str, ...]:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in TRAINABLE]
    if unknown:
        raise LmlabError(f"lora_train: unknown module {', '.join(unknown)}; expected a comma list of head, embeddings")
    return tuple(TRAINABLE[n] for n in names)


def adapted_layers(model: nn.Module, targets: tuple[str, ...]) -> dict[str, nn.Linear]:
    """The model's linear layers whose names end in one of the targets, by state-dict name."""
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and any(name == t or name.endswith("." + t) for t in targets)
    }


def check_lora(model: nn.Module, s: LoraSection):
    """The settings fit the model: one line naming the field otherwise (before any run folder is made)."""
    layers = adapted_layers(model, target_names(s.lora_targets))
    trained_names(s.lora_train)
    if not layers:
        raise LmlabError(f"lora_targets {s.lora_targets!r}: no such linear layer in the {type(model).__name__} model")
    widest = min(min(m.in_features, m.out_features) for m in layers.values())
    if not 1 <= s.lora_rank <= widest:
        raise LmlabError(
            f"lora_rank must be between 1 and {widest} (the narrowest adapted layer's width), got {s.lora_rank}"
        )
    if not s.lora_alpha > 0:
        raise LmlabError(f"lora_alpha must be > 0, got {s.lora_alpha}")
    if not 0 <= s.lora_dropout < 1:
        raise LmlabError(f"lora_dropout must be in [0, 1), got {s.lora_dropout}")


def _lora_hook(layer: nn.Linear, args, out: torch.Tensor) -> torch.Tensor:
    if not layer.lora_enabled:
        return out
    x = layer.lora_dropout(args[0]) if layer.lora_dropout.p else args[0]
    return torch.add(out, layer.lora_B(layer.lora_A(x)), alpha=layer.lora_scaling)  # (..., out), the scale fused


def add_adapters(model: nn.Module, s: LoraSection, seed: int, always_trained: tuple[str, ...] = ()) -> nn.Module:
    """Freeze the model and give its target layers adapters (seeded); returns the model.

    always_trained: modules a stage adds with no base to adapt (a reward model's score), trained in full.
    """
    check_lora(model, s)
    targets, full = target_names(s.lora_targets), trained_names(s.lora_train) + tuple(always_trained)
    model.requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)
    for name, layer in adapted_layers(model, targets).items():
        device = layer.weight.device
        layer.lora_A = nn.Linear(layer.in_features, s.lora_rank, bias=False, device=device)
        layer.lora_B = nn.Linear(s.lora_rank, layer.out_features, bias=False, device=device)
        with torch.no_grad():
            weight = torch.empty_like(layer.lora_A.weight, device="cpu")
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)  # nn.Linear's (and PEFT's) init
            layer.lora_A.weight.copy_(weight)
            nn.init.zeros_(layer.lora_B.weight)
        layer.lora_dropout = nn.Dropout(s.lora_dropout)
        layer.lora_scaling = s.lora_alpha / s.lora_rank
        layer.lora_enabled = True
        layer.register_forward_hook(_lora_hook)
    modules = dict(model.named_modules())
    for name in full:
        found = [m for n, m in modules.items() if n == name or n.endswith("." + name)]
        if not found:
            raise LmlabError(f"lora_train: the {type(model).__name__} model has no module {name}")
        for m in found:
            m.requires_grad_(True)
    if s.lora_base_dtype == "bfloat16":
        for name, m in modules.items():
            if isinstance(m, nn.Linear) and ".h." in f".{name}" and not m.weight.requires_grad:
                m.weight.data = m.weight.data.to(torch.bfloat16)
    model.adapter_config = peft_config(s, targets, trained_modules(model))
    return model


def trained_modules(model: nn.Module) -> tuple[str, ...]:
    """The modules trained in full, by name; a tied table under both its names (wte and lm_head), as peft needs both
    in modules_to_save to keep the head and the embedding one table."""
    names = [n for n, p in model.named_parameters(remove_duplicate=False) if p.requires_grad and ".lora_" not in n]
    return tuple(dict.fromkeys(n.rsplit(".", 1)[0] for n in names))


def has_adapters(model: nn.Module) -> bool:
    return hasattr(model, "adapter_config")


@contextlib.contextmanager
def adapters_disabled(model: nn.Module):
    """The base model: every adapter's term off inside the block (the reference of DPO, PPO and GRPO, for free)."""
    layers = [m for m in model.modules() if hasattr(m, "lora_enabled")]
    for m in layers:
        m.lora_enabled = False
    try:
        yield model
    finally:
        for m in layers:
            m.lora_enabled = True


class WithoutAdapters:
    """model with its adapters off, called like the model: the frozen reference without a second copy of it."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __call__(self, *args, **kwargs):
        with adapters_disabled(self.model):
            return self.model(*args, **kwargs)


# ---- PEFT's files ---------------------------------------------------------------------------------------
def peft_config(s: LoraSection, targets: tuple[str, ...], full: tuple[str, ...]) -> dict:
    """adapter_config.json as peft writes it (the fields LoraConfig reads; the rest take peft's defaults)."""
    return {
        "peft_type": "LORA",
        "task_type": None,
        "base_model_name_or_path": None,  # the run folder writes its base (lmlab.runs.RunFolder.save_checkpoint)
        "r": s.lora_rank,
        "lora_alpha": s.lora_alpha,
        "lora_dropout": s.lora_dropout,
        "target_modules": list(targets),
        "modules_to_save": list(full) or None,
        "bias": "none",
        "fan_in_fan_out": False,
        "use_rslora": False,
        "use_dora": False,
        "init_lora_weights": True,
        "inference_mode": True,
    }


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The trained tensors (adapters and fully trained modules) under PEFT's names, each its own storage (a tied
    table under each of its names)."""
    named = model.named_parameters(remove_duplicate=False)
    return {PREFIX + name: p.detach().contiguous().clone() for name, p in named if p.requires_grad}


def save_adapter(model: nn.Module, folder, config: dict | None = None):
    """adapter_model.safetensors and adapter_config.json of the model's adapters into folder (which exists)."""
    save_file(adapter_state(model), str(folder / ADAPTER_FILE), metadata={"format": "pt"})
    (folder / ADAPTER_CONFIG).write_text(json.dumps(config or model.adapter_config, indent=2) + "\n")


def read_adapter(folder) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors without PEFT's prefix, adapter_config.json) of an adapter folder, or one line naming the file."""
    f, c = folder / ADAPTER_FILE, folder / ADAPTER_CONFIG
    for path in (f, c):
        if not path.is_file():
            raise LmlabError(f"{path}: missing; an adapter run holds {ADAPTER_FILE} and {ADAPTER_CONFIG}")
    try:
        tensors = load_file(str(f))
    except Exception as e:  # safetensors' errors on a truncated or garbage file name no file
        raise LmlabError(f"{f}: not a readable safetensors file ({str(e).splitlines()[0][:120]})") from None
    try:
        config = json.loads(c.read_text())
        r, alpha = int(config["r"]), float(config["lora_alpha"])
    except (ValueError, KeyError, TypeError) as e:
        raise LmlabError(f"{c}: not a LoRA adapter config (expected JSON with r and lora_alpha: {e})") from None
    if r < 1:
        raise LmlabError(f"{c}: r must be >= 1, got {r}")
    strip = {k[len(PREFIX) :] if k.startswith(PREFIX) else k: v for k, v in tensors.items()}
    return strip, {**config, "r": r, "lora_alpha": alpha}


def load_adapter_state(model: nn.Module, tensors: dict[str, torch.Tensor], where: str):
    """Copy an adapter's tensors into the live adapters and trained modules of model; they must match exactly."""
    trained = {name: p for name, p in model.named_parameters(remove_duplicate=False) if p.requires_grad}
    missing, unexpected = sorted(set(trained) - set(tensors)), sorted(set(tensors) - set(trained))
    if missing or unexpected:
        raise LmlabError(
            f"{where}: the adapter does not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    with torch.no_grad():
        for name, p in trained.items():
            if tensors[name].shape != p.shape:
                raise LmlabError(f"{where}: {name} is {tuple(tensors[name].shape)}, the model's is {tuple(p.shape)}")
            p.copy_(tensors[name])


@torch.no_grad()
def merge_into(model: nn.Module, tensors: dict[str, torch.Tensor], config: dict, where: str, ignore=()):
    """Merge an adapter into a plain model's weights: W += (alpha / r) B A for each adapted layer (in fp32), and the
    fully trained modules' tensors copied. Tensors under an `ignore` prefix (training-only parts) are skipped."""
    scaling = config["lora_alpha"] / config["r"]
    params = dict(model.named_parameters(remove_duplicate=False))
    for name, t in tensors.items():
        if ignore and name.startswith(tuple(ignore)):
            continue
        if name.endswith(".lora_B.weight"):
            continue  # with its A
        if name.endswith(".lora_A.weight"):
            layer = name[: -len(".lora_A.weight")]
            B = tensors.get(f"{layer}.lora_B.weight")
            W = params.get(f"{layer}.weight")
            if B is None or W is None or B.shape[1] != t.shape[0] or (B.shape[0], t.shape[1]) != W.shape:
                raise LmlabError(f"{where}: the adapter's {layer} does not fit the base model ({PREFIX}{name})")
            W.copy_((W.float() + scaling * (B.float() @ t.float())).to(W.dtype))  # (out, r) x (r, in) -> (out, in)
        elif name in params and params[name].shape == t.shape:
            params[name].copy_(t)
        else:
            raise LmlabError(f"{where}: the adapter's {PREFIX}{name} is no tensor of the base model")
