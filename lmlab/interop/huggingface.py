"""Hugging Face interop: export an lmlab GPT run as a transformers model folder, and import one as a run.

export_hf writes config.json, model.safetensors, the tokenizer and generation settings by hand (JSON and
safetensors, no transformers needed), so that AutoModelForCausalLM / AutoTokenizer.from_pretrained load the
folder with no lmlab installed and no remote code. Two families of lmlab options have a transformers class:

    pos_encoding learned + norm layernorm + mlp gelu   -> GPT2LMHeadModel  (multi-head attention only)
    pos_encoding rope + norm rmsnorm + mlp swiglu      -> LlamaForCausalLM (with or without grouped-query attention)

import_hf reads a GPT-2 or Llama folder (config.json, safetensors weights, tokenizer) into a run folder that
lmlab.runs.load_run loads with the same logits; every config field lmlab cannot represent is refused by name.

Weight layout. lmlab's c_attn rows are [q (C), k (nkv * hs), v (nkv * hs)] and its SwiGLU c_fc rows are
[gate, up]: Llama's q/k/v_proj and gate/up_proj are those row blocks. GPT-2 keeps the fused c_attn but stores
its Conv1D weights as (in, out), the transpose of nn.Linear's (out, in). lmlab's RoPE rotates the two halves
of each head (transformers' rotate_half layout), so q and k need no permutation. GPT-2 always has biases: a
bias-free lmlab model exports zero biases (exact), and a GPT-2 whose biases are all exactly zero imports as
bias=False, so that export then import gives back the same tensors.

Vocabulary. lmlab needs its reserved special tokens (lmlab.tokenizer.SPECIAL_TOKENS); import adds the missing
ones after the existing vocabulary, with embedding (and untied head) rows initialised to the mean of the
existing rows, and drops padding rows beyond the tokenizer's vocabulary. Weights import as float32.

Known limit: transformers renders the chat template to a string and then tokenizes it, so a literal "<|end|>"
typed inside a message's content becomes the control token there, whereas lmlab always encodes content as
text (lmlab.tokenizer). Exported generation stops at <|end|> or <|eos|>.
"""

import dataclasses
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file, save_model
from tokenizers import Tokenizer as HFTokenizer

from lmlab.data.conversations import ROLES
from lmlab.errors import LmlabError
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.runs import RunFolder, atomic_write, load_run
from lmlab.tokenizer import SPECIAL_TOKENS, Tokenizer

ARCHITECTURES = {"gpt2": "GPT2LMHeadModel", "llama": "LlamaForCausalLM", "mixtral": "MixtralForCausalLM"}
MAPPED = "export maps learned + layernorm + gelu (GPT-2) and rope + rmsnorm + swiglu (Llama)"
MIXTRAL = "a mixture of experts exports as Mixtral: rope + rmsnorm + swiglu experts, dropless, unshared, no bias"
CONV1D_WEIGHTS = ("c_attn.weight", "c_proj.weight", "c_fc.weight")  # GPT-2 stores these (in, out)
# Tensors of transformers checkpoints that are not weights: GPT-2's saved causal masks, old Llama's RoPE table.
BUFFER_SUFFIXES = (".attn.bias", ".attn.masked_bias", "rotary_emb.inv_freq")

# lmlab's template (lmlab.data.conversations): <|bos|>, then <|role|>content<|end|> per message, then
# <|assistant|> to prompt an answer. One line: transformers' Jinja settings then leave no whitespace to trim.
CHAT_TEMPLATE = (
    "{{ '<|bos|>' }}{% for message in messages %}"
    f"{{% if message['role'] not in {list(ROLES)} %}}"
    "{{ raise_exception('lmlab models know the roles system, user, assistant and tool') }}{% endif %}"
    "{% if message['role'] == 'system' and not loop.first %}"
    "{{ raise_exception('only the first message may be a system message') }}{% endif %}"
    "{{ '<|' + message['role'] + '|>' + (message['content'] or '') }}"
    # a calculator call (lmlab.data.conversations): transformers' form, arguments as a dict
    "{% if message['role'] == 'assistant' and message.get('tool_calls') %}"
    "{% if message['tool_calls'] | length != 1 %}{{ raise_exception('one tool call a turn') }}{% endif %}"
    "{% set arguments = message['tool_calls'][0]['function']['arguments'] %}"
    "{% if arguments is string %}{{ raise_exception('give the arguments as a dict') }}{% endif %}"
    "{{ '<|call|>' + arguments['expression'] }}{% endif %}"
    "{{ '<|end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


# ---- the weight names of each family ---------------------------------------------------------------------
def weight_names(model_type: str, cfg: ModelConfig) -> dict[str, list[str]]:
    """lmlab state-dict name -> the transformers names whose row blocks, stacked, make that tensor."""
    if model_type == "gpt2":  # the same modules under transformer.*; biases always
        names = {"wte.weight": ["transformer.wte.weight"], "wpe.weight": ["transformer.wpe.weight"]}
        parts = ["ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"]
        for i in range(cfg.n_layer):
            for part in parts:
                for p in ("weight", "bias"):
                    names[f"h.{i}.{part}.{p}"] = [f"transformer.h.{i}.{part}.{p}"]
        names.update({f"ln_f.{p}": [f"transformer.ln_f.{p}"] for p in ("weight", "bias")})
    else:
        names = {"wte.weight": ["model.embed_tokens.weight"]}
        for i in range(cfg.n_layer):
            hf = f"model.layers.{i}"
            names[f"h.{i}.ln_1.weight"] = [f"{hf}.input_layernorm.weight"]
            names[f"h.{i}.ln_2.weight"] = [f"{hf}.post_attention_layernorm.weight"]
            for p in ("weight", "bias") if cfg.bias else ("weight",):
                names[f"h.{i}.attn.c_attn.{p}"] = [f"{hf}.self_attn.{x}_proj.{p}" for x in "qkv"]
                names[f"h.{i}.attn.c_proj.{p}"] = [f"{hf}.self_attn.o_proj.{p}"]
                if model_type == "mixtral":  # the per-expert layout, which transformers 4 and 5 both read
                    moe = f"{hf}.block_sparse_moe"
                    names[f"h.{i}.mlp.router.weight"] = [f"{moe}.gate.weight"]
                    for e in range(cfg.moe_experts):
                        names[f"h.{i}.mlp.experts.{e}.c_fc.{p}"] = [
                            f"{moe}.experts.{e}.w1.{p}",
                            f"{moe}.experts.{e}.w3.{p}",
                        ]
                        names[f"h.{i}.mlp.experts.{e}.c_proj.{p}"] = [f"{moe}.experts.{e}.w2.{p}"]
                    continue
                names[f"h.{i}.mlp.c_fc.{p}"] = [f"{hf}.mlp.gate_proj.{p}", f"{hf}.mlp.up_proj.{p}"]
                names[f"h.{i}.mlp.c_proj.{p}"] = [f"{hf}.mlp.down_proj.{p}"]
        names["ln_f.weight"] = ["model.norm.weight"]
    if not cfg.tie_embeddings:
        names["lm_head.weight"] = ["lm_head.weight"]
    return names


def transformers_tensors(state: dict, model_type: str, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """lmlab's state dict under transformers' names, in nn.Linear's (out, in) layout (GPT-2 transposes Conv1D's)."""
    tensors = {}
    for ours, theirs in weight_names(model_type, cfg).items():
        # A bias lmlab does not have (bias=False) is GPT-2's zero bias of the layer's output width.
        t = state[ours] if ours in state else torch.zeros(state[ours.replace(".bias", ".weight")].size(0))
        tensors.update(zip(theirs, row_blocks(t, len(theirs), cfg)))
    return tensors


def is_conv1d(model_type: str, name: str) -> bool:
    return model_type == "gpt2" and name.endswith(CONV1D_WEIGHTS)


def row_blocks(t: torch.Tensor, n: int, cfg: ModelConfig) -> tuple[torch.Tensor, ...]:
    """Split a stacked lmlab tensor into its n transformers tensors: [q, k, v], [gate, up], or itself."""
    if n == 3:
        kv = cfg.kv_heads * (cfg.n_embd // cfg.n_head)
        return t.split([cfg.n_embd, kv, kv])
    return t.chunk(n)


# ---- export ----------------------------------------------------------------------------------------------
def export_hf(run: str | Path, out: str | Path) -> Path:
    """Write the causal-LM GPT run `run` as a transformers model folder `out` (GPT-2 or Llama); returns out."""
    out = Path(out)
    refuse_nonempty(out)
    model, tokenizer, _ = load_run(run, "cpu")
    cfg = model.config
    model_type = export_family(cfg, run)
    state = model.state_dict()
    tensors = {
        name: (t.t() if is_conv1d(model_type, name) else t).clone(memory_format=torch.contiguous_format)
        for name, t in transformers_tensors(state, model_type, cfg).items()
    }  # each its own storage, row-major
    hidden = model.h[0].mlp.experts[0].hidden if cfg.moe_experts else model.h[0].mlp.hidden  # the MLP width
    config = gpt2_config(cfg, hidden) if model_type == "gpt2" else llama_config(cfg, hidden)
    if model_type == "mixtral":
        config.update(architectures=[ARCHITECTURES["mixtral"]], model_type="mixtral", sliding_window=None,
                      num_local_experts=cfg.moe_experts, num_experts_per_tok=cfg.moe_top_k,
                      router_aux_loss_coef=cfg.moe_aux_weight, output_router_logits=False)  # fmt: skip
        for key in ("mlp_bias", "attention_bias"):
            config.pop(key)
    ids = {token: tokenizer.special_id(token) for token in ("<|bos|>", "<|eos|>", "<|pad|>", "<|end|>")}
    config.update(
        bos_token_id=ids["<|bos|>"], eos_token_id=ids["<|eos|>"], pad_token_id=ids["<|pad|>"], use_cache=True,
        dtype="float32", torch_dtype="float32",  # transformers 5 reads dtype, 4 torch_dtype
    )  # fmt: skip
    generation = {
        "bos_token_id": ids["<|bos|>"],
        "eos_token_id": [ids["<|end|>"], ids["<|eos|>"]],  # a chat answer ends at <|end|>
        "pad_token_id": ids["<|pad|>"],
    }
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    write_json(out / "config.json", config)
    write_json(out / "generation_config.json", generation)
    shutil.copyfile(Path(run) / "tokenizer.json", out / "tokenizer.json")
    write_json(out / "tokenizer_config.json", tokenizer_config(cfg, tokenizer))
    (out / "README.md").write_text(model_card(run, cfg, config, sum(p.numel() for p in model.parameters())))
    return out


def export_family(cfg: ModelConfig, run) -> str:
    """The transformers model_type of an lmlab architecture, or one line naming the option that has none."""
    if cfg.arch != "gpt":
        raise LmlabError(f"{run}: arch {cfg.arch!r} (a recurrent model) has no transformers equivalent; {MAPPED}")
    families = {"learned": ("gpt2", "layernorm", "gelu"), "rope": ("llama", "rmsnorm", "swiglu")}
    if cfg.pos_encoding not in families:
        raise LmlabError(f"{run}: pos_encoding {cfg.pos_encoding!r} has no transformers equivalent; {MAPPED}")
    model_type, norm, mlp = families[cfg.pos_encoding]
    for option, value, expected in (("norm", cfg.norm, norm), ("mlp", cfg.mlp, mlp)):
        if value != expected:
            raise LmlabError(
                f"{run}: {option} {value!r} with pos_encoding {cfg.pos_encoding!r} has no transformers "
                f"equivalent; {MAPPED}"
            )
    if cfg.moe_experts:  # Mixtral: softmax, top-k renormalised, SwiGLU experts, no shared expert, nothing dropped
        for option, value in (("moe_shared", cfg.moe_shared), ("moe_capacity", cfg.moe_capacity), ("bias", cfg.bias)):
            if value:
                raise LmlabError(f"{run}: a mixture of experts with {option} {value} has no transformers "
                                 f"equivalent; {MIXTRAL}")  # fmt: skip
        if model_type != "llama":
            raise LmlabError(f"{run}: a mixture of experts with pos_encoding {cfg.pos_encoding!r}: {MIXTRAL}")
        model_type = "mixtral"
    if model_type == "gpt2" and cfg.kv_heads != cfg.n_head:
        raise LmlabError(
            f"{run}: n_kv_head {cfg.n_kv_head} (grouped-query attention) has no GPT-2 equivalent; "
            "GQA exports with rope + rmsnorm + swiglu (Llama)"
        )
    # modded-nanogpt's layers that GPT-2 and Llama lack (zero_init_proj is only an initialisation: it exports)
    for option, value in (("qk_norm", cfg.qk_norm), ("logit_softcap", cfg.logit_softcap)):
        if value:
            raise LmlabError(f"{run}: {option} {value} has no transformers GPT-2 or Llama equivalent; {MAPPED}")
    return model_type


def gpt2_config(cfg: ModelConfig, hidden: int) -> dict:
    return {
        "architectures": [ARCHITECTURES["gpt2"]],
        "model_type": "gpt2",
        "vocab_size": cfg.vocab_size,
        "n_positions": cfg.block_size,
        "n_embd": cfg.n_embd,
        "n_layer": cfg.n_layer,
        "n_head": cfg.n_head,
        "n_inner": hidden,
        "activation_function": "gelu_new",  # the tanh approximation, as lmlab's MLP
        "layer_norm_epsilon": cfg.norm_eps,
        "resid_pdrop": cfg.dropout,
        "embd_pdrop": cfg.dropout,
        "attn_pdrop": cfg.dropout,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "tie_word_embeddings": cfg.tie_embeddings,
    }


def llama_config(cfg: ModelConfig, hidden: int) -> dict:
    return {
        "architectures": [ARCHITECTURES["llama"]],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.n_embd,
        "intermediate_size": hidden,
        "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head,
        "num_key_value_heads": cfg.kv_heads,
        "head_dim": cfg.n_embd // cfg.n_head,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.block_size,
        "rms_norm_eps": cfg.norm_eps,
        # transformers 5 reads rope_parameters; 4 reads rope_theta (5 folds it into rope_parameters).
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "rope_theta": cfg.rope_theta,
        "attention_bias": cfg.bias,
        "mlp_bias": cfg.bias,
        "attention_dropout": cfg.dropout,
        "tie_word_embeddings": cfg.tie_embeddings,
    }


def tokenizer_config(cfg: ModelConfig, tokenizer: Tokenizer) -> dict:
    others = [
        t for t in SPECIAL_TOKENS if t not in ("<|bos|>", "<|eos|>", "<|pad|>") and tokenizer.special_id(t) is not None
    ]  # a tokenizer trained before tool use lacks the tool tokens
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|bos|>",
        "eos_token": "<|eos|>",
        "pad_token": "<|pad|>",
        "additional_special_tokens": others,  # transformers 4's name
        "extra_special_tokens": others,  # transformers 5's name
        "model_max_length": cfg.block_size,
        "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
    }


def model_card(run, cfg: ModelConfig, config: dict, n_params: int) -> str:
    architecture = config["architectures"][0]
    attention = f"{cfg.n_head} heads" + (f", {cfg.kv_heads} key/value heads" if cfg.kv_heads != cfg.n_head else "")
    return f"""---
library_name: transformers
pipeline_tag: text-generation
tags: [lmlab]
---
# {Path(run).name}

A GPT-style language model trained with lmlab and exported as a transformers `{architecture}`.

| | |
|---|---|
| layers | {cfg.n_layer} |
| width | {cfg.n_embd} ({attention}) |
| context | {cfg.block_size} tokens |
| vocabulary | {cfg.vocab_size} ({cfg.pos_encoding} positions, {cfg.norm}, {cfg.mlp} MLP) |
| parameters | {n_params:,} (float32) |

## Loading

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("PATH")
model = AutoModelForCausalLM.from_pretrained("PATH")
ids = tokenizer.apply_chat_template([{{"role": "user", "content": "Hi"}}], add_generation_prompt=True,
                                    return_tensors="pt", return_dict=True)
print(tokenizer.decode(model.generate(**ids, max_new_tokens=50)[0]))
```

The chat template is lmlab's: `<|bos|>`, then `<|role|>content<|end|>` per message (system, user, assistant),
then `<|assistant|>`; generation stops at `<|end|>` or `<|eos|>`. Unlike lmlab, which always encodes message
contents as text, transformers tokenizes the rendered template, so a literal `<|end|>` inside a message
becomes the control token.
"""


# ---- import ----------------------------------------------------------------------------------------------
def import_hf(hf_dir: str | Path, out: str | Path) -> Path:
    """Turn a local GPT-2 or Llama transformers folder into the lmlab run folder `out`; returns out."""
    hf_dir, out = Path(hf_dir), Path(out)
    if not hf_dir.is_dir():
        raise LmlabError(f"{hf_dir}: no such folder")
    config = read_json(hf_dir / "config.json")
    refuse_nonempty(out)
    model_type = config.get("model_type")
    if model_type not in ARCHITECTURES:
        raise LmlabError(
            f"{hf_dir / 'config.json'}: model_type {model_type!r} has no lmlab equivalent (expected gpt2 or llama)"
        )
    where = str(hf_dir / "config.json")
    cfg = gpt2_model_config(config, where) if model_type == "gpt2" else llama_model_config(config, where)
    weights = read_weights(hf_dir)
    state = {}
    for ours, theirs in weight_names(model_type, cfg).items():
        blocks = [take(weights, name, model_type, hf_dir) for name in theirs]
        blocks = [b.t() if is_conv1d(model_type, ours) else b for b in blocks]
        if len({b.shape[1:] for b in blocks}) > 1:
            raise LmlabError(f"{hf_dir}: {', '.join(theirs)} have shapes {[tuple(b.shape) for b in blocks]}")
        state[ours] = torch.cat(blocks)
    leftover = [k for k in weights if not k.endswith(BUFFER_SUFFIXES) and k != "lm_head.weight"]
    if leftover:
        raise LmlabError(f"{hf_dir}: weights lmlab has no place for: {', '.join(sorted(leftover)[:3])}")
    if model_type == "gpt2" and all(not t.any() for k, t in state.items() if k.endswith(".bias")):
        cfg.bias = False  # an export of a bias-free lmlab model (module docstring)
        state = {k: t for k, t in state.items() if not k.endswith(".bias")}

    tokenizer, n_tokens, added = read_tokenizer(hf_dir)
    rows = state["wte.weight"].size(0)
    if rows < n_tokens:
        raise LmlabError(f"{hf_dir}: the tokenizer has {n_tokens} tokens but the embedding only {rows} rows")
    for name in ("wte.weight", "lm_head.weight"):
        if name in state:
            state[name] = fit_vocab(state[name], n_tokens, len(added))
    notes = []
    if added:
        notes.append(f"added {', '.join(added)} as ids {n_tokens}..{n_tokens + len(added) - 1} (mean embedding rows)")
    if rows > n_tokens:
        notes.append(f"dropped {rows - n_tokens} embedding rows beyond the tokenizer's {n_tokens} tokens")
    if notes:
        print(f"import: {'; '.join(notes)}")
    cfg.vocab_size = tokenizer.vocab_size
    model = GPT(cfg)
    if cfg.tie_embeddings:
        state["lm_head.weight"] = state["wte.weight"]
    try:
        model.load_state_dict(state)
    except RuntimeError as e:  # a tensor of another shape than config.json implies
        raise LmlabError(f"{hf_dir}: the weights do not fit config.json ({str(e).splitlines()[-1].strip()})") from None

    record = {
        "model": dataclasses.asdict(cfg),
        "import": {"source": str(hf_dir.resolve()), "architecture": ARCHITECTURES[model_type],
                   "added_special_tokens": added},
        "corpus": None,  # unknown: evaluate an imported model with --data
    }  # fmt: skip
    run = RunFolder(out)
    lock = run.lock()
    try:
        lock.claim()
        run.create(record, stage="import", model_kind="causal-lm", tokenizer=tokenizer)
        atomic_write(out / "model.safetensors", lambda p: save_model(model, str(p)))
    finally:
        lock.release()
    return out


def require(config: dict, key: str, default, accepted: tuple, where: str, why: str):
    """config[key] (or its transformers default), or one line naming the field, its value and why lmlab has none."""
    value = config.get(key, default)
    if value not in accepted:
        raise LmlabError(f"{where}: {key} = {json.dumps(value)} has no lmlab equivalent ({why})")
    return value


def size(config: dict, key: str, where: str) -> int:
    if not isinstance(config.get(key), int):
        raise LmlabError(f"{where}: {key} must be an integer, got {config.get(key)!r}")
    return config[key]


def check_common(config: dict, where: str, n_embd: int, n_head: int):
    require(config, "quantization_config", None, (None,), where, "lmlab loads plain float weights")
    if n_embd % n_head:
        raise LmlabError(f"{where}: hidden size {n_embd} is not a multiple of the {n_head} attention heads")


def gpt2_model_config(config: dict, where: str) -> ModelConfig:
    """The ModelConfig of a GPT-2 config.json (its sizes, and every behaviour checked against lmlab's)."""
    n_embd, n_head = size(config, "n_embd", where), size(config, "n_head", where)
    check_common(config, where, n_embd, n_head)
    require(config, "activation_function", "gelu_new", ("gelu_new", "gelu_pytorch_tanh"), where,
            "lmlab's GELU is the tanh approximation")  # fmt: skip
    require(config, "scale_attn_weights", True, (True,), where, "lmlab scales attention by 1/sqrt(head size)")
    for key in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        require(config, key, False, (False,), where, "lmlab's attention is plain scaled dot-product")
    require(config, "add_cross_attention", False, (False,), where, "lmlab's GPT is a decoder without cross-attention")
    return ModelConfig(
        n_layer=size(config, "n_layer", where), n_head=n_head, n_embd=n_embd,
        block_size=size(config, "n_positions", where), pos_encoding="learned", norm="layernorm", mlp="gelu",
        bias=True, tie_embeddings=config.get("tie_word_embeddings", True),
        norm_eps=float(config.get("layer_norm_epsilon", 1e-5)), mlp_hidden=config.get("n_inner") or 0,
    )  # fmt: skip


def llama_model_config(config: dict, where: str) -> ModelConfig:
    """The ModelConfig of a Llama config.json (its sizes, and every behaviour checked against lmlab's)."""
    n_embd, n_head = size(config, "hidden_size", where), size(config, "num_attention_heads", where)
    check_common(config, where, n_embd, n_head)
    n_kv_head = config.get("num_key_value_heads") or n_head
    if n_head % n_kv_head:
        raise LmlabError(f"{where}: num_attention_heads {n_head} is not a multiple of num_key_value_heads {n_kv_head}")
    require(config, "head_dim", n_embd // n_head, (None, n_embd // n_head), where,
            f"lmlab's head size is hidden_size / num_attention_heads = {n_embd // n_head}")  # fmt: skip
    require(config, "hidden_act", "silu", ("silu",), where, "lmlab's SwiGLU gates with SiLU")
    bias = bool(config.get("attention_bias", False))
    require(config, "mlp_bias", False, (bias,), where, f"lmlab's one bias option is attention_bias = {bias} too")
    for key in ("rope_parameters", "rope_scaling"):
        params = config.get(key) or {}
        if params.get("rope_type", params.get("type", "default")) != "default":
            raise LmlabError(
                f"{where}: {key} = {json.dumps(params)} has no lmlab equivalent (lmlab's RoPE is unscaled)"
            )
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if rope.get("partial_rotary_factor", config.get("partial_rotary_factor", 1.0)) != 1.0:
        raise LmlabError(f"{where}: partial_rotary_factor is not 1, and lmlab's RoPE rotates the whole head")
    return ModelConfig(
        n_layer=size(config, "num_hidden_layers", where), n_head=n_head, n_embd=n_embd,
        n_kv_head=0 if n_kv_head == n_head else n_kv_head, block_size=size(config, "max_position_embeddings", where),
        pos_encoding="rope", norm="rmsnorm", mlp="swiglu", bias=bias,
        tie_embeddings=config.get("tie_word_embeddings", False),
        rope_theta=float(rope.get("rope_theta", config.get("rope_theta", 10000.0))),
        norm_eps=float(config.get("rms_norm_eps", 1e-6)), mlp_hidden=size(config, "intermediate_size", where),
    )  # fmt: skip


def read_weights(hf_dir: Path) -> dict[str, torch.Tensor]:
    """Every tensor of model.safetensors, or of the shards a model.safetensors.index.json names, as float32."""
    index = hf_dir / "model.safetensors.index.json"
    if (hf_dir / "model.safetensors").is_file():
        files = [hf_dir / "model.safetensors"]
    elif index.is_file():
        weight_map = read_json(index).get("weight_map")
        if not isinstance(weight_map, dict):
            raise LmlabError(f"{index}: has no weight_map object")
        names = sorted({str(name) for name in weight_map.values()})
        for name in names:
            if Path(name).name != name or "\\" in name or name in ("", ".", ".."):
                raise LmlabError(f"{index}: weight_map names {name!r}; only files directly inside {hf_dir} are read")
        files = [hf_dir / name for name in names]
    elif (hf_dir / "pytorch_model.bin").is_file() or (hf_dir / "pytorch_model.bin.index.json").is_file():
        raise LmlabError(
            f"{hf_dir}: holds pytorch_model.bin, a pickle, and lmlab loads no pickles; convert it to safetensors "
            "first (transformers: save_pretrained(..., safe_serialization=True))"
        )
    else:
        raise LmlabError(f"{hf_dir}: no model.safetensors or model.safetensors.index.json")
    weights = {}
    for f in files:
        if not f.is_file():
            raise LmlabError(f"{f}: missing (named in {index.name})")
        try:
            weights.update(load_file(str(f)))
        except Exception as e:  # safetensors' errors on a damaged file name no file
            raise LmlabError(f"{f}: not a readable safetensors file ({str(e).splitlines()[0][:120]})") from None
    return {k: t.float() for k, t in weights.items()}


def take(weights: dict, name: str, model_type: str, hf_dir: Path) -> torch.Tensor:
    """Remove and return a tensor; GPT-2 checkpoints saved before transformers' prefix name it without transformer."""
    for key in (name, name.removeprefix("transformer.")) if model_type == "gpt2" else (name,):
        if key in weights:
            return weights.pop(key)
    raise LmlabError(f"{hf_dir}: the weights lack {name}")


def read_tokenizer(hf_dir: Path) -> tuple[Tokenizer, int, list[str]]:
    """The folder's tokenizer with lmlab's missing special tokens added, its original size, and what was added."""
    f = hf_dir / "tokenizer.json"
    if f.is_file():
        try:
            hf = HFTokenizer.from_file(str(f))
        except Exception as e:  # the Rust loader's errors are opaque; name the file instead
            raise LmlabError(f"{f}: not a valid tokenizer.json ({e})") from None
    else:
        hf = converted_tokenizer(hf_dir)
    n_tokens = hf.get_vocab_size(with_added_tokens=True)
    if sorted(hf.get_vocab(with_added_tokens=True).values()) != list(range(n_tokens)):
        raise LmlabError(f"{f}: token ids are not 0..{n_tokens - 1}, one per token; lmlab indexes its embedding by id")
    added = [t for t in SPECIAL_TOKENS if hf.token_to_id(t) is None]
    hf.add_special_tokens(added)
    assert [hf.token_to_id(t) for t in added] == list(range(n_tokens, n_tokens + len(added)))
    return Tokenizer(hf), n_tokens, added


def converted_tokenizer(hf_dir: Path) -> HFTokenizer:
    """A folder without tokenizer.json: transformers' fast conversion of its other tokenizer files."""
    try:
        from transformers import AutoTokenizer
    except ModuleNotFoundError:
        raise LmlabError(
            f"{hf_dir}: has no tokenizer.json; converting other tokenizer files needs transformers "
            "(pip install transformers)"
        ) from None
    try:
        fast = AutoTokenizer.from_pretrained(str(hf_dir), use_fast=True)
        return HFTokenizer.from_str(fast.backend_tokenizer.to_str())
    except Exception as e:  # any of the many formats transformers reads, failing in its own way
        raise LmlabError(
            f"{hf_dir}: has no tokenizer.json, and transformers could not convert its tokenizer ({e})"
        ) from None


def fit_vocab(rows: torch.Tensor, n_tokens: int, n_added: int) -> torch.Tensor:
    """(V, C) embedding or head rows -> (n_tokens + n_added, C): the tokenizer's rows, then their mean per new token."""
    kept = rows[:n_tokens]
    return torch.cat([kept, kept.mean(0, keepdim=True).expand(n_added, -1)])


# ---- files -----------------------------------------------------------------------------------------------
def refuse_nonempty(out: Path):
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LmlabError(f"{out}: exists and is not an empty folder; choose another output")


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise LmlabError(f"{path}: not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LmlabError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise LmlabError(f"{path}: expected a JSON object")
    return data


def write_json(path: Path, data: dict):
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
