"""Hugging Face interop: an exported run loads in transformers with the same logits, greedy generations and chat
ids; transformers GPT-2 and Llama folders import as runs with the same logits; export then import is bitwise."""

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_model
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from lmlab.data.conversations import check_messages, render, render_prompt
from lmlab.errors import LmlabError
from lmlab.eval.perplexity import evaluate_run
from lmlab.inference.generate import generate
from lmlab.interop.huggingface import export_hf, import_hf
from lmlab.models import build_model
from lmlab.models.config import ModelConfig
from lmlab.runs import RunFolder, load_run
from lmlab.stages.sft import sft
from lmlab.tokenizer import SPECIAL_TOKENS, train_bpe, train_char

pytest.importorskip("transformers", reason="transformers is not installed (pip install -e .[dev])")
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

TEXT = [
    "the quick brown fox jumps over the lazy dog\n",
    "pack my box with five dozen liquor jugs 0123456789\n",
    "héllo wörld, ça va? 你好 🙂\n",
]
GPT2 = dict(pos_encoding="learned", norm="layernorm", mlp="gelu")
LLAMA = dict(pos_encoding="rope", norm="rmsnorm", mlp="swiglu")


@pytest.fixture(scope="module")
def char_tok():
    return train_char(TEXT)


@pytest.fixture(scope="module")
def bpe_tok():
    return train_bpe(TEXT * 3, 300)


def scale_up(model: torch.nn.Module, std: float = 0.5) -> torch.nn.Module:
    """Random weights far from the tiny init, so logits differ and greedy decoding has no near-ties."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, std)
    return model


def make_run(path, tok, **options):
    """A run folder of a tiny random GPT (no training): what export reads."""
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=2, n_head=4, n_embd=32, block_size=64, vocab_size=tok.vocab_size, **options)
    model = scale_up(build_model(cfg))
    RunFolder(path).create({"model": dataclasses.asdict(cfg), "corpus": None}, "pretrain", "causal-lm", tok)
    save_model(model, str(path / "model.safetensors"))
    return path


def load_hf(path):
    return AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()


# ---- export ------------------------------------------------------------------------------------------------
EXPORTS = {
    "gpt2": (GPT2, "GPT2LMHeadModel"),
    "gpt2-no-bias": ({**GPT2, "bias": False}, "GPT2LMHeadModel"),
    "gpt2-untied": ({**GPT2, "tie_embeddings": False}, "GPT2LMHeadModel"),
    "gpt2-no-bias-untied-eps-width": (
        {**GPT2, "bias": False, "tie_embeddings": False, "norm_eps": 1e-3, "mlp_hidden": 80},
        "GPT2LMHeadModel",
    ),
    "llama-mha-no-bias-untied": ({**LLAMA, "bias": False, "tie_embeddings": False}, "LlamaForCausalLM"),
    "llama-gqa-bias-tied": ({**LLAMA, "n_kv_head": 2}, "LlamaForCausalLM"),
    "llama-mqa-theta-eps": (
        {**LLAMA, "n_kv_head": 1, "bias": False, "rope_theta": 500.0, "norm_eps": 1e-6},
        "LlamaForCausalLM",
    ),
    "llama-gqa-bias-untied-width": (
        {**LLAMA, "n_kv_head": 2, "tie_embeddings": False, "mlp_hidden": 48, "rope_theta": 123456.0, "norm_eps": 1e-3},
        "LlamaForCausalLM",
    ),
}


@pytest.mark.parametrize("name", EXPORTS)
def test_exported_model_has_the_logits_and_greedy_generation_of_the_run(char_tok, tmp_path, name):
    options, architecture = EXPORTS[name]
    out = export_hf(make_run(tmp_path / "run", char_tok, **options), tmp_path / "hf")
    model, hf = load_run(out.parent / "run").model, load_hf(out)
    assert type(hf).__name__ == architecture
    ids = torch.randint(char_tok.vocab_size, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (model(ids) - hf(ids).logits).abs().max() < 1e-4
    prompt = ids[0, :8].tolist()
    ours = list(generate(model, prompt, 50, temperature=0))
    hf.generation_config.eos_token_id = None  # 50 tokens, whatever they are
    theirs = hf.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, 8, dtype=torch.long),
                         do_sample=False, max_new_tokens=50)  # fmt: skip
    assert theirs[0, 8:].tolist() == ours and len(ours) == 50


CONVERSATIONS = [
    [{"role": "user", "content": "hello"}],
    [{"role": "system", "content": "be brief."}, {"role": "user", "content": "the fox?"}],
    [
        {"role": "system", "content": "  two  spaces\nand a newline\n"},
        {"role": "user", "content": "héllo 你好 🙂 0123"},
        {"role": "assistant", "content": "ça va\n\n"},
        {"role": "user", "content": ""},
        {"role": "assistant", "content": " lazy dog "},
    ],
    [  # a calculator call in transformers' form (arguments as a dict) and its result
        {"role": "user", "content": "What is 12 + 30?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "calculator", "arguments": {"expression": "12 + 30"}}}]},
        {"role": "tool", "content": "42"},
        {"role": "assistant", "content": "42"},
    ],
]  # fmt: skip


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_exported_chat_template_gives_lmlabs_ids(char_tok, bpe_tok, tmp_path, kind):
    tok = char_tok if kind == "char" else bpe_tok
    out = export_hf(make_run(tmp_path / "run", tok, **GPT2), tmp_path / "hf")
    hf_tok = AutoTokenizer.from_pretrained(str(out))
    for messages in CONVERSATIONS:
        ours = check_messages(messages, "test", require_assistant=False)
        assert hf_tok.apply_chat_template(messages, return_dict=False) == render(tok, ours)[0]
        prompt = hf_tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
        assert prompt == render_prompt(tok, ours)
    assert hf_tok.encode("the fox 你好", add_special_tokens=False) == tok.encode("the fox 你好")
    assert (hf_tok.bos_token, hf_tok.eos_token, hf_tok.pad_token, hf_tok.model_max_length) == (
        "<|bos|>", "<|eos|>", "<|pad|>", 64,
    )  # fmt: skip
    generation = json.loads((out / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [tok.special_id("<|end|>"), tok.eos_id]


def test_exported_folder_loads_in_transformers_without_lmlab(bpe_tok, tmp_path):
    run = make_run(tmp_path / "run", bpe_tok, **LLAMA, n_kv_head=2)
    out = export_hf(run, tmp_path / "hf")
    script = (
        "import json, sys\n"
        "sys.modules['lmlab'] = None\n"
        "try:\n    import lmlab\nexcept ImportError:\n    pass\nelse:\n    raise SystemExit('lmlab is importable')\n"
        "import torch\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        "out, ids, messages = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])\n"
        "model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)\n"
        "tok = AutoTokenizer.from_pretrained(out)\n"
        "with torch.no_grad():\n    logits = model(torch.tensor([ids])).logits[0].tolist()\n"
        "chat = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)\n"
        "print(json.dumps({'logits': logits, 'chat': chat}))\n"
    )
    ids = list(range(0, bpe_tok.vocab_size, 11))[:24]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    args = [sys.executable, "-c", script, str(out), json.dumps(ids), json.dumps(CONVERSATIONS[2])]
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    with torch.no_grad():
        expected = load_run(run).model(torch.tensor([ids]))[0]
    assert (torch.tensor(result["logits"]) - expected).abs().max() < 1e-4
    assert result["chat"] == render_prompt(bpe_tok, CONVERSATIONS[2])


UNMAPPABLE = {
    "sinusoidal": (dict(pos_encoding="sinusoidal"), "pos_encoding 'sinusoidal'"),
    "learned-rmsnorm": (dict(norm="rmsnorm"), "norm 'rmsnorm'"),
    "learned-swiglu": (dict(mlp="swiglu"), "mlp 'swiglu'"),
    "rope-layernorm": (dict(pos_encoding="rope", mlp="swiglu"), "norm 'layernorm'"),
    "rope-gelu": (dict(pos_encoding="rope", norm="rmsnorm"), "mlp 'gelu'"),
    "learned-gqa": (dict(n_kv_head=2), "n_kv_head 2"),
    "recurrent": (dict(arch="lstm"), "arch 'lstm'"),
    "relu2": (dict(mlp="relu2"), "mlp 'relu2'"),
    "rope-relu2": (dict(pos_encoding="rope", norm="rmsnorm", mlp="relu2"), "mlp 'relu2'"),
    "qk-norm": (dict(qk_norm=True), "qk_norm True"),
    "rope-qk-norm": (dict(pos_encoding="rope", norm="rmsnorm", mlp="swiglu", qk_norm=True), "qk_norm True"),
    "logit-softcap": (dict(logit_softcap=30.0), "logit_softcap 30.0"),
}


@pytest.mark.parametrize("name", UNMAPPABLE)
def test_export_of_an_unmappable_architecture_is_one_line_naming_the_option(char_tok, tmp_path, name):
    options, named = UNMAPPABLE[name]
    with pytest.raises(LmlabError, match=named) as error:
        export_hf(make_run(tmp_path / "run", char_tok, **options), tmp_path / "hf")
    assert "\n" not in str(error.value) and "GPT-2" in str(error.value)
    assert not (tmp_path / "hf").exists()


def test_export_refuses_a_non_empty_folder_and_a_run_that_is_not_a_causal_lm(char_tok, tmp_path):
    run = make_run(tmp_path / "run", char_tok)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(LmlabError, match="not an empty folder"):
        export_hf(run, tmp_path / "full")
    RunFolder(run).update_record({"model_kind": "reward-model"})
    with pytest.raises(LmlabError, match="reward model"):
        export_hf(run, tmp_path / "hf")


# ---- import ------------------------------------------------------------------------------------------------
def save_hf_tokenizer(path) -> int:
    """A byte-level BPE without lmlab's special tokens, saved by transformers; returns its vocabulary size."""
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=280, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    hf.train_from_iterator(TEXT * 3, trainer=trainer)
    PreTrainedTokenizerFast(tokenizer_object=hf, eos_token="<|endoftext|>").save_pretrained(str(path))
    return hf.get_vocab_size()


def save_hf_model(path, model_type: str) -> int:
    """A tiny random transformers model with its tokenizer in `path`; returns the tokenizer's vocabulary size."""
    n_tokens = save_hf_tokenizer(path)
    torch.manual_seed(0)
    if model_type == "gpt2":  # 6 padding rows beyond the tokenizer, tied head
        config = GPT2Config(vocab_size=n_tokens + 6, n_positions=64, n_embd=32, n_layer=2, n_head=4, n_inner=48,
                            layer_norm_epsilon=1e-4)  # fmt: skip
        scale_up(GPT2LMHeadModel(config)).save_pretrained(str(path))
    else:  # grouped-query attention with biases, an untied head, another RoPE base, sharded weights
        config = LlamaConfig(vocab_size=n_tokens, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                             rope_theta=2000.0, rms_norm_eps=1e-5, attention_bias=True, mlp_bias=True,
                             tie_word_embeddings=False)  # fmt: skip
        scale_up(LlamaForCausalLM(config)).save_pretrained(str(path), max_shard_size="20KB")
    return n_tokens


@pytest.fixture(scope="module")
def hf_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return {kind: (root / kind, save_hf_model(root / kind, kind)) for kind in ("gpt2", "llama")}


@pytest.mark.parametrize("model_type", ["gpt2", "llama"])
def test_imported_model_has_the_logits_of_the_transformers_model(hf_folders, tmp_path, capsys, model_type):
    folder, n_tokens = hf_folders[model_type]
    assert (folder / "model.safetensors.index.json").is_file() == (model_type == "llama")
    run = import_hf(folder, tmp_path / "run")
    note = capsys.readouterr().out
    assert note.count("\n") == 1 and "added <|bos|>" in note and ("dropped 6" in note) == (model_type == "gpt2")
    model, tok, record = load_run(run)
    ids = torch.randint(n_tokens, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = model(ids)[..., :n_tokens] - load_hf(folder)(ids).logits[..., :n_tokens]
    assert diff.abs().max() < 1e-4
    assert record["import"]["added_special_tokens"] == SPECIAL_TOKENS and record["stage"] == "import"
    assert sorted(tok.special_id(t) for t in SPECIAL_TOKENS) == list(range(n_tokens, n_tokens + len(SPECIAL_TOKENS)))
    ids, _ = render(tok, [{"role": "user", "content": "the fox"}, {"role": "assistant", "content": "ok"}])
    assert ids[:2] == [tok.special_id("<|bos|>"), tok.special_id("<|user|>")]
    assert tok.vocab_size == n_tokens + len(SPECIAL_TOKENS)


def broken(folder, tmp_path, change):
    """A copy of a transformers folder with one change made by change(copy)."""
    copy = tmp_path / "broken"
    shutil.copytree(folder, copy)
    change(copy)
    return copy


def edit_config(**entries):
    def change(folder):
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, **entries}))

    return change


def pickles_only(folder):
    for f in folder.glob("model*.safetensors*"):
        f.unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not read")


def escaping_shard(folder):
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    index["weight_map"] = {name: "../x.safetensors" for name in index["weight_map"]}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


IMPORT_ERRORS = {
    "pickle": ("llama", pickles_only, "pytorch_model.bin, a pickle"),
    "model-type": ("llama", edit_config(model_type="bert"), "model_type 'bert'"),
    "rope-scaling": ("llama", edit_config(rope_scaling={"rope_type": "linear", "factor": 2.0}), "rope_scaling"),
    "escaping-shard": ("llama", escaping_shard, r"'\.\./x\.safetensors'"),
    "head-dim": ("llama", edit_config(head_dim=16), "head_dim = 16"),
    "hidden-act": ("llama", edit_config(hidden_act="gelu"), 'hidden_act = "gelu"'),
    "mlp-bias": ("llama", edit_config(mlp_bias=False), "mlp_bias = false"),
    "activation": ("gpt2", edit_config(activation_function="relu"), 'activation_function = "relu"'),
    "layer-scaling": ("gpt2", edit_config(scale_attn_by_inverse_layer_idx=True), "scale_attn_by_inverse_layer_idx"),
}


@pytest.mark.parametrize("name", IMPORT_ERRORS)
def test_import_of_what_lmlab_cannot_represent_is_one_line_naming_it(hf_folders, tmp_path, name):
    model_type, change, named = IMPORT_ERRORS[name]
    with pytest.raises(LmlabError, match=named) as error:
        import_hf(broken(hf_folders[model_type][0], tmp_path, change), tmp_path / "run")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("options", [{**GPT2, "bias": False, "tie_embeddings": False}, {**LLAMA, "n_kv_head": 2}])
def test_export_then_import_gives_back_the_same_weights_and_tokenizer(bpe_tok, tmp_path, options):
    run = make_run(tmp_path / "run", bpe_tok, **options)
    back = import_hf(export_hf(run, tmp_path / "hf"), tmp_path / "back")
    (before, tok_before, _), (after, tok_after, record) = load_run(run), load_run(back)
    a, b = before.state_dict(), after.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert tok_after.sha256() == tok_before.sha256() and record["import"]["added_special_tokens"] == []


def test_an_imported_model_fine_tunes_and_evaluates(hf_folders, tmp_path, text_file):
    run = import_hf(hf_folders["gpt2"][0], tmp_path / "imported")
    chat = tmp_path / "chat.jsonl"
    lines = [{"messages": [{"role": "user", "content": f"fox {i}?"}, {"role": "assistant", "content": "dog"}]}
             for i in range(8)]  # fmt: skip
    chat.write_text("".join(json.dumps(line) + "\n" for line in lines))
    overrides = dict(max_iters=2, batch_size=4, eval_interval=2, progress=False, dtype="float32")
    tuned = sft(init=run, data=chat, out=tmp_path / "sft", overrides=overrides)
    assert (tuned / "model.safetensors").is_file() and load_run(tuned).record["stage"] == "sft"
    metrics = evaluate_run(run, data=str(text_file), max_tokens=256, device="cpu", progress=False)
    assert math.isfinite(metrics["val_loss"])


def test_export_and_import_commands(bpe_tok, tmp_path, capsys):
    from lmlab.cli import main

    run = make_run(tmp_path / "run", bpe_tok, **LLAMA)
    assert main(["export", str(run), str(tmp_path / "hf"), "--format", "hf"]) == 0
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    assert main(["import", str(tmp_path / "hf"), "--out", str(tmp_path / "back")]) == 0
    assert load_run(tmp_path / "back").record["stage"] == "import"
    assert main(["export", str(run), str(tmp_path / "hf")]) == 2  # the folder is taken: one line, nothing lost
    assert "not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "hf" / "model.safetensors").is_file()
