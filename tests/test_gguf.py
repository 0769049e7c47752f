"""GGUF export: the file holds llama.cpp's tensor names, shapes and metadata; run the way llama.cpp's llama and gpt2
graphs compute (adjacent-pair RoPE), its tensors give the run's logits; and, where llama-cpp-python is installed,
llama.cpp itself loads it with the run's logits, greedy generation and token ids."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmlab.errors import LmlabError
from lmlab.inference.generate import generate
from lmlab.interop.huggingface import import_hf
from lmlab.runs import load_run
from lmlab.tokenizer import SPECIAL_TOKENS, train_bpe, train_char

gguf = pytest.importorskip("gguf", reason="gguf is not installed (pip install gguf)")
from test_huggingface import GPT2, LLAMA, TEXT, make_run, save_hf_model  # noqa: E402  (needs transformers)

from lmlab.interop.gguf import export_gguf  # noqa: E402

EXPORTS = {
    "llama-mha-no-bias-untied": {**LLAMA, "bias": False, "tie_embeddings": False},
    "llama-gqa-bias-tied": {**LLAMA, "n_kv_head": 2},
    "llama-mqa-theta-eps-width": {**LLAMA, "n_kv_head": 1, "rope_theta": 500.0, "norm_eps": 1e-3, "mlp_hidden": 48},
    "gpt2": GPT2,
    "gpt2-no-bias-untied": {**GPT2, "bias": False, "tie_embeddings": False, "norm_eps": 1e-3},
}


@pytest.fixture(scope="module")
def bpe_tok():
    return train_bpe(TEXT * 3, 300)


def ids_of(tok, n=40, seed=1):
    return torch.randint(tok.vocab_size, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def read(path) -> tuple[dict, dict]:
    """A GGUF file's metadata {key: value} and tensors {name: float32 tensor in numpy's (out, in) order}."""
    reader = gguf.GGUFReader(path)
    meta = {key: field.contents() for key, field in reader.fields.items()}
    tensors = {t.name: torch.from_numpy(np.array(t.data, dtype=np.float32)) for t in reader.tensors}
    return meta, tensors


def gguf_logits(path, ids: list[int]) -> torch.Tensor:
    """Logits (T, V) of a llama or gpt2 GGUF computed as llama.cpp's graphs do, written from its tensors alone."""
    meta, w = read(path)
    arch = meta["general.architecture"]
    C, nh = meta[f"{arch}.embedding_length"], meta[f"{arch}.attention.head_count"]
    nkv, hs, T = meta[f"{arch}.attention.head_count_kv"], C // nh, len(ids)

    def norm(x, name):
        if arch == "llama":
            eps = meta["llama.attention.layer_norm_rms_epsilon"]
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w[f"{name}.weight"]
        eps = meta["gpt2.attention.layer_norm_epsilon"]
        return F.layer_norm(x, (C,), w[f"{name}.weight"], w[f"{name}.bias"], eps)

    def linear(x, name):
        y = x @ w[f"{name}.weight"].T
        return y + w[f"{name}.bias"] if f"{name}.bias" in w else y

    def rope(x):  # (T, n, hs): llama.cpp's NORM rope rotates adjacent pairs (x0, x1), (x2, x3), ...
        inv_freq = meta["llama.rope.freq_base"] ** (-torch.arange(0, hs, 2, dtype=torch.float32) / hs)
        angles = torch.arange(T, dtype=torch.float32)[:, None, None] * inv_freq  # (T, 1, hs/2)
        cos, sin, x0, x1 = angles.cos(), angles.sin(), x[..., 0::2], x[..., 1::2]
        return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), -1).flatten(-2)

    x = w["token_embd.weight"][ids]  # (T, C)
    if arch == "gpt2":
        x = x + w["position_embd.weight"][:T]
    for i in range(meta[f"{arch}.block_count"]):
        h = norm(x, f"blk.{i}.attn_norm")
        if arch == "llama":
            q, k, v = (linear(h, f"blk.{i}.attn_{n}") for n in "qkv")
            q, k = rope(q.view(T, nh, hs)), rope(k.view(T, nkv, hs))
        else:
            q, k, v = linear(h, f"blk.{i}.attn_qkv").split([C, nkv * hs, nkv * hs], -1)
        q, k, v = (t.reshape(T, -1, hs).transpose(0, 1) for t in (q, k, v))  # (n, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + linear(y.transpose(0, 1).reshape(T, C), f"blk.{i}.attn_output")
        h = norm(x, f"blk.{i}.ffn_norm")
        if arch == "llama":
            h = F.silu(linear(h, f"blk.{i}.ffn_gate")) * linear(h, f"blk.{i}.ffn_up")
        else:
            h = F.gelu(linear(h, f"blk.{i}.ffn_up"), approximate="tanh")
        x = x + linear(h, f"blk.{i}.ffn_down")
    head = w.get("output.weight", w["token_embd.weight"])  # tied: llama.cpp reads the embedding
    return norm(x, "output_norm") @ head.T


# ---- the file ----------------------------------------------------------------------------------------------
def test_llama_gguf_holds_llama_cpps_names_shapes_metadata_and_tokenizer(bpe_tok, tmp_path):
    run = make_run(tmp_path / "run", bpe_tok, **LLAMA, n_kv_head=2, rope_theta=500.0, mlp_hidden=48)
    meta, tensors = read(export_gguf(run, tmp_path / "model.gguf"))
    V = bpe_tok.vocab_size
    assert {k: v for k, v in meta.items() if k.startswith("llama.")} == {
        "llama.context_length": 64, "llama.embedding_length": 32, "llama.block_count": 2,
        "llama.feed_forward_length": 48, "llama.attention.head_count": 4, "llama.attention.head_count_kv": 2,
        "llama.vocab_size": V, "llama.attention.layer_norm_rms_epsilon": pytest.approx(1e-5),
        "llama.rope.freq_base": 500.0, "llama.rope.dimension_count": 8,
    }  # fmt: skip
    assert meta["general.architecture"] == "llama" and meta["general.file_type"] == gguf.LlamaFileType.ALL_F32
    shapes = {"token_embd.weight": (V, 32), "output_norm.weight": (32,)}  # numpy's (out, in), ggml's reversed
    for i in range(2):
        shapes.update({
            f"blk.{i}.attn_norm.weight": (32,), f"blk.{i}.ffn_norm.weight": (32,),
            f"blk.{i}.attn_q.weight": (32, 32), f"blk.{i}.attn_k.weight": (16, 32), f"blk.{i}.attn_v.weight": (16, 32),
            f"blk.{i}.attn_q.bias": (32,), f"blk.{i}.attn_k.bias": (16,), f"blk.{i}.attn_v.bias": (16,),
            f"blk.{i}.attn_output.weight": (32, 32), f"blk.{i}.attn_output.bias": (32,),
            f"blk.{i}.ffn_gate.weight": (48, 32), f"blk.{i}.ffn_up.weight": (48, 32),
            f"blk.{i}.ffn_down.weight": (32, 48),
            f"blk.{i}.ffn_gate.bias": (48,), f"blk.{i}.ffn_up.bias": (48,), f"blk.{i}.ffn_down.bias": (32,),
        })  # fmt: skip
    assert {name: tuple(t.shape) for name, t in tensors.items()} == shapes  # tied: no output.weight

    vocab = bpe_tok.hf.get_vocab(with_added_tokens=True)
    assert meta["tokenizer.ggml.model"] == "gpt2" and meta["tokenizer.ggml.pre"] == "smollm"
    assert meta["tokenizer.ggml.tokens"] == sorted(vocab, key=vocab.get)
    control = [i for i, t in enumerate(meta["tokenizer.ggml.token_type"]) if t == gguf.TokenType.CONTROL]
    assert control == sorted(bpe_tok.special_id(t) for t in SPECIAL_TOKENS)
    assert meta["tokenizer.ggml.merges"][0].count(" ") == 1
    specials = {k: meta[f"tokenizer.ggml.{k}_token_id"] for k in ("bos", "eos", "eot", "padding")}
    assert specials == {"bos": bpe_tok.special_id("<|bos|>"), "eos": bpe_tok.eos_id,
                        "eot": bpe_tok.special_id("<|end|>"), "padding": bpe_tok.special_id("<|pad|>")}  # fmt: skip
    assert meta["tokenizer.ggml.add_bos_token"] is False and "<|assistant|>" in meta["tokenizer.chat_template"]


def test_gpt2_gguf_keeps_the_fused_attention_and_zero_biases(bpe_tok, tmp_path):
    run = make_run(tmp_path / "run", bpe_tok, **GPT2, bias=False, tie_embeddings=False)
    meta, tensors = read(export_gguf(run, tmp_path / "model.gguf"))
    assert meta["general.architecture"] == "gpt2" and meta["gpt2.context_length"] == 64
    assert meta["gpt2.feed_forward_length"] == 128 and meta["gpt2.attention.layer_norm_epsilon"] == pytest.approx(1e-5)
    assert tensors["position_embd.weight"].shape == (64, 32) and tensors["output.weight"].shape == (300, 32)
    assert tensors["blk.1.attn_qkv.weight"].shape == (96, 32) and not tensors["blk.1.attn_qkv.bias"].any()
    assert tensors["blk.0.ffn_up.weight"].shape == (128, 32) and tensors["blk.0.ffn_down.weight"].shape == (32, 128)


@pytest.mark.parametrize("name", EXPORTS)
def test_gguf_run_as_llama_cpp_computes_gives_the_runs_logits(bpe_tok, tmp_path, name):
    run = make_run(tmp_path / "run", bpe_tok, **EXPORTS[name])
    path = export_gguf(run, tmp_path / "model.gguf")
    ids = ids_of(bpe_tok)
    with torch.no_grad():
        ours = load_run(run).model(torch.tensor([ids]))[0]
    assert (gguf_logits(path, ids) - ours).abs().max() < 1e-4 * ours.abs().max()


def test_imported_gpt2_exports_with_gpt2s_pre_tokenizer_and_its_own_special_token(tmp_path):
    save_hf_model(tmp_path / "hf", "gpt2")
    run = import_hf(tmp_path / "hf", tmp_path / "run")
    path = export_gguf(run, tmp_path / "model.gguf")
    meta, _ = read(path)
    assert meta["tokenizer.ggml.pre"] == "gpt-2"
    endoftext = meta["tokenizer.ggml.tokens"].index("<|endoftext|>")
    assert meta["tokenizer.ggml.token_type"][endoftext] == gguf.TokenType.CONTROL
    ids = ids_of(load_run(run).tokenizer)
    with torch.no_grad():
        ours = load_run(run).model(torch.tensor([ids]))[0]
    assert (gguf_logits(path, ids) - ours).abs().max() < 1e-4 * ours.abs().max()


def test_float16_gguf_halves_the_matrices_and_keeps_norms_and_biases_float32(bpe_tok, tmp_path):
    run = make_run(tmp_path / "run", bpe_tok, **LLAMA)
    path = export_gguf(run, tmp_path / "model.gguf", dtype="float16")
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(path).tensors}
    assert types["token_embd.weight"] == types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.F16
    assert types["blk.0.attn_norm.weight"] == types["blk.0.attn_q.bias"] == gguf.GGMLQuantizationType.F32
    ids = ids_of(bpe_tok)
    with torch.no_grad():
        ours = load_run(run).model(torch.tensor([ids]))[0]
    assert (gguf_logits(path, ids) - ours).abs().max() < 1e-2 * ours.abs().max()


def test_export_refuses_the_char_tokenizer_an_unmappable_model_and_an_existing_file(bpe_tok, tmp_path):
    with pytest.raises(LmlabError, match="character tokenizer .* has no llama.cpp equivalent"):
        export_gguf(make_run(tmp_path / "char", train_char(TEXT), **LLAMA), tmp_path / "a.gguf")
    with pytest.raises(LmlabError, match="pos_encoding 'sinusoidal'"):
        export_gguf(make_run(tmp_path / "sin", bpe_tok, pos_encoding="sinusoidal"), tmp_path / "a.gguf")
    (tmp_path / "b.gguf").write_text("keep me")
    with pytest.raises(LmlabError, match="exists"):
        export_gguf(make_run(tmp_path / "run", bpe_tok, **LLAMA), tmp_path / "b.gguf")
    assert (tmp_path / "b.gguf").read_text() == "keep me" and not (tmp_path / "a.gguf").exists()


# ---- llama.cpp itself --------------------------------------------------------------------------------------
def llama_cpp_model(path, n_ctx=64):
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    # float32 KV cache (llama.cpp's default is float16) and no flash attention, for a tight comparison
    return llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, logits_all=True, verbose=False, n_threads=2,
                           type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32,
                           flash_attn=False)  # fmt: skip


@pytest.mark.parametrize("name", EXPORTS)
def test_llama_cpp_gives_the_runs_logits_and_greedy_generation(bpe_tok, tmp_path, name):
    run = make_run(tmp_path / "run", bpe_tok, **EXPORTS[name])
    llm = llama_cpp_model(export_gguf(run, tmp_path / "model.gguf"))
    model, ids = load_run(run).model, ids_of(bpe_tok)
    llm.eval(ids)
    with torch.no_grad():
        ours = model(torch.tensor([ids]))[0]
    theirs = torch.from_numpy(np.array(llm.scores[: len(ids)]))
    # GPT-2's GELU goes through ggml's float16 lookup table (GGML_GELU_FP16): a looser bound there
    tolerance = 1e-4 if EXPORTS[name]["mlp"] == "swiglu" else 2e-3
    assert (theirs - ours).abs().max() < tolerance * ours.abs().max()

    prompt = ids[:8]
    llm.reset()
    llm.eval(prompt)
    greedy = []
    for _ in range(40):  # one token at a time: llama.cpp's KV cache path
        greedy.append(int(np.argmax(llm.scores[llm.n_tokens - 1])))
        llm.eval([greedy[-1]])
    assert greedy == list(generate(model, prompt, 40, temperature=0))


@pytest.mark.parametrize("kind", ["lmlab-bpe", "imported-gpt2"])
def test_llama_cpp_tokenizes_like_lmlab(bpe_tok, tmp_path, kind):
    if kind == "lmlab-bpe":
        run = make_run(tmp_path / "run", bpe_tok, **LLAMA)
    else:
        save_hf_model(tmp_path / "hf", "gpt2")
        run = import_hf(tmp_path / "hf", tmp_path / "run")
    llm = llama_cpp_model(export_gguf(run, tmp_path / "model.gguf"))
    tok = load_run(run).tokenizer
    for text in [*TEXT, "  two  spaces\n\n and 12345 digits, x1y22 ", "<|end|> stays text", "tabs\tand\r\nCRLF  "]:
        ids = tok.encode(text)
        assert llm.tokenize(text.encode(), add_bos=False, special=False) == ids
        assert llm.detokenize(ids).decode() == text
    assert llm.token_bos() == tok.special_id("<|bos|>") and llm.token_eos() == tok.eos_id
