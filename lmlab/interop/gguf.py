"""GGUF export: an lmlab GPT run as one .gguf file that llama.cpp (llama-cpp-python, ollama, LM Studio) runs.

GGUF is ggml's single-file format: typed metadata key/values (the architecture's sizes, the tokenizer) followed
by named tensors. The model mapping is the transformers export's (lmlab.interop.huggingface): export_family picks
Llama (rope + rmsnorm + swiglu, with or without grouped-query attention) or GPT-2 (learned + layernorm + gelu),
transformers_tensors gives lmlab's tensors under transformers' names, and the gguf package's TensorNameMap
turns those into llama.cpp's (model.layers.0.self_attn.q_proj.weight -> blk.0.attn_q.weight), as llama.cpp's
own convert_hf_to_gguf.py does. Two layouts differ from the transformers folder:

    Llama q and k rows. llama.cpp runs LLM_ARCH_LLAMA with its NORM rope, which rotates adjacent pairs
    (x0, x1), (x2, x3), ... of each head (Meta's original layout); lmlab, like transformers, rotates
    (x_i, x_{i + hs/2}) (rotate_half). Both use the angle pos * theta^(-2i/hs) for pair i, so reordering each
    head's q and k rows from [first half, second half] to [h1_0, h2_0, h1_1, h2_1, ...] gives the same q.k
    products: convert_hf_to_gguf.py's `permute`, applied to the weights and biases of q and k.
    GPT-2 matrices. GGUF stores them as nn.Linear does, (out, in): no Conv1D transpose.

As in the transformers export, a bias-free GPT-2 gets zero biases (llama.cpp's gpt2 requires them), a tied head
is left out (llama.cpp then reads the token embedding), and the chat template and stop tokens come along:
generation ends at <|end|> (tokenizer.ggml.eot_token_id) or <|eos|>.

Tokenizer. llama.cpp's "gpt2" tokenizer is byte-level BPE with a named pre-tokenizer (a fixed list of split
regexes, tokenizer.ggml.pre). lmlab's BPE splits digits one by one, then applies GPT-2's byte-level regex: that is
exactly llama.cpp's "smollm" pre-tokenizer (\\p{N}, then the GPT-2 regex; "refact" and "starcoder" split the same
but also clean up spaces on decoding, which lmlab does not). A plain GPT-2 byte-level tokenizer (an imported
GPT-2) is "gpt-2". The character tokenizer (byte fallback, no merges) has no llama.cpp equivalent and is refused.

Weights are written as float32, or with dtype "float16" as float16 matrices and float32 norms and biases
(llama.cpp's convention for 1-D tensors).
"""

import json
from pathlib import Path

import torch

from lmlab.errors import LmlabError
from lmlab.interop.huggingface import CHAT_TEMPLATE, export_family, transformers_tensors
from lmlab.models.config import ModelConfig
from lmlab.runs import atomic_write, load_run
from lmlab.tokenizer import Tokenizer

try:
    import gguf
except ModuleNotFoundError:  # an optional dependency: only this export needs it
    gguf = None

DTYPES = ("float32", "float16")
# (type, individual_digits, add_prefix_space, use_regex) of each pre-tokenizer step -> llama.cpp's name for it.
PRE_TOKENIZERS = {
    (("Digits", True, None, None), ("ByteLevel", None, False, True)): "smollm",  # lmlab.tokenizer.train_bpe
    (("ByteLevel", None, False, True),): "gpt-2",
}


def export_gguf(run: str | Path, out_file: str | Path, dtype: str = "float32") -> Path:
    """Write the causal-LM GPT run `run` as the GGUF file `out_file` (llama or gpt2 architecture); returns it."""
    if gguf is None:
        raise LmlabError("GGUF export needs the gguf package (pip install gguf)")
    if dtype not in DTYPES:
        raise LmlabError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    out_file = Path(out_file)
    if out_file.exists():
        raise LmlabError(f"{out_file}: exists; choose another output")
    model, tokenizer, _ = load_run(run, "cpu")
    cfg = model.config
    model_type = export_family(cfg, run)
    if model_type == "mixtral":
        raise LmlabError(f"{run}: no GGUF export for a mixture of experts; --format hf writes it as Mixtral")
    pre = pre_tokenizer(tokenizer, run)
    state = model.state_dict()
    hidden = state["h.0.mlp.c_proj.weight"].size(1)  # the MLP width (gpt.MLP's default or cfg.mlp_hidden)

    writer = gguf.GGUFWriter(None, model_type)  # general.architecture: "llama" or "gpt2"
    writer.add_name(Path(run).resolve().name)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if dtype == "float32" else gguf.LlamaFileType.MOSTLY_F16)
    write_hparams(writer, model_type, cfg, hidden)
    write_tokenizer(writer, tokenizer, pre)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[model_type.upper()], cfg.n_layer)  # transformers -> llama.cpp
    for name, t in transformers_tensors(state, model_type, cfg).items():
        if model_type == "llama" and ".self_attn.q_proj." in name:
            t = pairs_rope_layout(t, cfg.n_head)
        elif model_type == "llama" and ".self_attn.k_proj." in name:
            t = pairs_rope_layout(t, cfg.kv_heads)
        t = t.to(torch.float16 if dtype == "float16" and t.dim() == 2 else torch.float32)
        writer.add_tensor(names.get_name(name, try_suffixes=(".weight", ".bias")), t.contiguous().numpy())

    def write(path: Path):
        writer.write_header_to_file(path)  # the writer opens its file here: atomic_write's temporary name
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    atomic_write(out_file, write)
    return out_file


def pairs_rope_layout(t: torch.Tensor, n_head: int) -> torch.Tensor:
    """q or k rows (n_head * hs, ...) from rotate_half's [x1, x2] per head to llama.cpp's pairs [x1_0, x2_0, ...].

    convert_hf_to_gguf.py's LlamaModel.permute; works on weights (rows, C) and biases (rows,) alike.
    """
    hs = t.size(0) // n_head
    halves = t.reshape(n_head, 2, hs // 2, *t.shape[1:])  # (nh, 2, hs/2, ...): [x1, x2] of each head
    return halves.transpose(1, 2).reshape(t.shape)  # (nh, hs/2, 2, ...): x1_0, x2_0, x1_1, x2_1, ...


def write_hparams(writer, model_type: str, cfg: ModelConfig, hidden: int):
    """The architecture's sizes under {arch}.* keys: what llama.cpp's loader reads for llama or gpt2."""
    writer.add_context_length(cfg.block_size)
    writer.add_embedding_length(cfg.n_embd)
    writer.add_block_count(cfg.n_layer)
    writer.add_feed_forward_length(hidden)
    writer.add_head_count(cfg.n_head)
    writer.add_head_count_kv(cfg.kv_heads)
    if model_type == "gpt2":
        writer.add_layer_norm_eps(cfg.norm_eps)
    else:
        writer.add_vocab_size(cfg.vocab_size)
        writer.add_layer_norm_rms_eps(cfg.norm_eps)
        writer.add_rope_freq_base(cfg.rope_theta)
        writer.add_rope_dimension_count(cfg.n_embd // cfg.n_head)  # the whole head rotates


def pre_tokenizer(tokenizer: Tokenizer, run) -> str:
    """llama.cpp's name for the tokenizer's pre-tokenizer, or one line saying why there is none."""
    if tokenizer.kind == "char":
        raise LmlabError(
            f"{run}: the character tokenizer (byte fallback, no merges) has no llama.cpp equivalent; "
            "GGUF export needs a byte-level BPE tokenizer (tokenizer: bpe)"
        )
    spec = json.loads(tokenizer.to_json())
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    shape = tuple((s.get("type"), s.get("individual_digits"), s.get("add_prefix_space"), s.get("use_regex"))
                  for s in steps)  # fmt: skip
    if spec["model"].get("type") != "BPE" or spec.get("normalizer") or shape not in PRE_TOKENIZERS:
        raise LmlabError(
            f"{run}: tokenizer.json's pre-tokenizer {json.dumps(pre)} has no llama.cpp equivalent; GGUF export "
            "maps lmlab's byte-level BPE and GPT-2's"
        )
    return PRE_TOKENIZERS[shape]


def write_tokenizer(writer, tokenizer: Tokenizer, pre: str):
    """tokenizer.ggml.*: byte-level BPE tokens (by id), their types, merges, special ids and the chat template."""
    spec = json.loads(tokenizer.to_json())
    vocab = tokenizer.hf.get_vocab(with_added_tokens=True)
    tokens = sorted(vocab, key=vocab.get)
    assert [vocab[t] for t in tokens] == list(range(len(tokens))), "token ids are 0..V-1"
    # tokenizers writes a merge as "a b" (older) or ["a", "b"]; byte-level symbols never hold a space
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    # added tokens: control tokens if special (lmlab's, an imported <|endoftext|>), else user-defined words
    added = {t["content"]: gguf.TokenType.CONTROL if t["special"] else gguf.TokenType.USER_DEFINED
             for t in spec["added_tokens"]}  # fmt: skip
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types([added.get(t, gguf.TokenType.NORMAL) for t in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokenizer.special_id("<|bos|>"))
    writer.add_eos_token_id(tokenizer.eos_id)
    writer.add_eot_token_id(tokenizer.special_id("<|end|>"))  # a chat answer ends at <|end|>
    writer.add_pad_token_id(tokenizer.special_id("<|pad|>"))
    writer.add_add_bos_token(False)  # lmlab encodes text as is; the chat template places <|bos|>
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)
