"""LoRA (lmlab.models.lora) in every fine-tuning stage: real runs on tiny char GPTs, their adapter files read by peft
itself, merged and exported runs checked against transformers + peft in a process where lmlab cannot be imported."""

import json
import math
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from test_dpo import corpus_lines, standard_rows, tiny_run, write_jsonl
from test_sft import chat_file, logged

from lmlab import cli
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.models.lora import LoraSection, adapters_disabled, add_adapters
from lmlab.runs import RunFolder, load_run
from lmlab.stages.dpo import DPOConfig, dpo
from lmlab.stages.grpo import GRPOConfig, grpo
from lmlab.stages.ppo import PPOConfig, ppo
from lmlab.stages.reward import RewardConfig, reward
from lmlab.stages.sft import sft

FP32 = dict(dtype="float32", progress=False)
LORA = dict(lora=True, lora_rank=4, lora_alpha=8.0)
SFT = dict(max_iters=4, batch_size=4, eval_interval=2, warmup_iters=1, log_interval=1, lr=1e-2, **FP32, **LORA)
LLAMA = dict(pos_encoding="rope", norm="rmsnorm", mlp="swiglu", bias=False, n_kv_head=1)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("lora")


@pytest.fixture(scope="module")
def base(root):
    return tiny_run(root, corpus_lines(), "base")


@pytest.fixture(scope="module")
def chat(root):
    return chat_file(root / "chat.jsonl")


@pytest.fixture(scope="module")
def lora_sft(root, base, chat):
    return sft(init=base, data=chat, out=root / "sft", overrides={**SFT, "lora_train": "head"})


def ids(n: int = 2, T: int = 12) -> torch.Tensor:
    return torch.randint(0, 40, (n, T), generator=torch.Generator().manual_seed(0))


# ---- the layer --------------------------------------------------------------------------------------------
def test_an_adapted_layer_computes_wx_plus_alpha_over_r_times_bax_and_starts_as_its_base():
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=20))
    x = torch.randn(3, 16)
    layer = model.h[0].attn.c_attn
    before = layer(x)
    add_adapters(model, LoraSection(lora=True, lora_rank=2, lora_alpha=6.0, lora_targets="attention"), seed=0)
    assert torch.equal(layer(x), before)  # B starts at zero
    torch.nn.init.normal_(layer.lora_B.weight)
    expected = x @ layer.weight.T + layer.bias + 3.0 * (x @ layer.lora_A.weight.T) @ layer.lora_B.weight.T
    torch.testing.assert_close(layer(x), expected)
    with adapters_disabled(model):
        torch.testing.assert_close(layer(x), before)


def test_only_the_adapters_and_the_named_modules_train_and_the_base_keeps_its_names():
    model = GPT(ModelConfig(n_layer=2, n_head=2, n_embd=16, block_size=8, vocab_size=20, **LLAMA))
    names = set(model.state_dict())
    add_adapters(model, LoraSection(lora=True, lora_rank=4, lora_targets="mlp", lora_train="head"), seed=0)
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {f"h.{i}.mlp.{m}.lora_{x}.weight" for i in (0, 1) for m in ("c_fc", "c_proj") for x in "AB"} | {
        "wte.weight"  # the tied head is the embedding table
    }
    assert names <= set(model.state_dict())


# ---- runs -------------------------------------------------------------------------------------------------
def test_a_lora_sft_run_holds_only_peft_adapter_files_and_names_its_base(lora_sft, base):
    files = {p.name for p in lora_sft.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json"} <= files and "model.safetensors" not in files
    tensors = load_file(lora_sft / "adapter_model.safetensors")
    assert all(k.startswith("base_model.model.") for k in tensors)
    assert sum(".lora_A." in k for k in tensors) == 2 * 4 and "base_model.model.wte.weight" in tensors
    config = json.loads((lora_sft / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4 and config["lora_alpha"] == 8.0
    adapter = RunFolder(lora_sft).read_config()["adapter"]
    assert adapter["base"] == str(base.resolve()) and adapter["base_sha256"] == RunFolder(base).weights_sha256()


def test_peft_applies_the_runs_adapter_to_the_base_with_the_logits_lmlab_loads(lora_sft, base):
    from peft import PeftModel

    merged = load_run(lora_sft).model
    with torch.no_grad():
        peft_model = PeftModel.from_pretrained(load_run(base).model, str(lora_sft))
        torch.testing.assert_close(peft_model(ids()), merged(ids()), atol=1e-5, rtol=0)
        assert (merged(ids()) - load_run(base).model(ids())).abs().max() > 1e-2  # the adapter changed something


def test_sample_eval_and_inspect_take_a_lora_run_like_any_other(lora_sft, tmp_path, capsys):
    assert cli.main(["sample", str(lora_sft), "--prompt", "verse", "--max-new-tokens", "4", "--seed", "0"]) == 0
    assert cli.main(["eval", str(lora_sft)]) == 0
    assert "val" in capsys.readouterr().out
    assert cli.main(["inspect", "lens", str(lora_sft), "the word", "--out", str(tmp_path / "lens")]) == 0
    assert (tmp_path / "lens" / "index.md").is_file()


def test_lora_sft_resumed_mid_run_ends_bitwise_like_the_uninterrupted_run(base, chat, tmp_path):
    cfg = {**SFT, "lr_decay_iters": 6, "lora_dropout": 0.1, "dropout": 0.1}
    stopped = sft(init=base, data=chat, out=tmp_path / "a", overrides=cfg)
    sft(resume=stopped, overrides={"max_iters": 6})
    straight = sft(init=base, data=chat, out=tmp_path / "b", overrides={**cfg, "max_iters": 6})
    a, b = (load_file(run / "adapter_model.safetensors") for run in (stopped, straight))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses = [[(r["step"], r["loss"]) for r in logged(run)] for run in (stopped, straight)]
    assert losses[0] == losses[1] and len(losses[0]) == 6


def test_lora_keeps_no_optimizer_state_for_the_base(lora_sft):
    state = torch.load(RunFolder(lora_sft).latest() / "optimizer.pt", weights_only=True)
    sizes = sum(t.numel() for s in state["state"].values() for t in s.values() if t.dim())
    tensors = load_file(lora_sft / "adapter_model.safetensors")
    assert torch.equal(tensors.pop("base_model.model.lm_head.weight"), tensors["base_model.model.wte.weight"])  # tied
    trained = sum(t.numel() for t in tensors.values())
    assert sizes == 2 * trained  # AdamW's two moments of the trained tensors, nothing else
    base = load_file(RunFolder(RunFolder(lora_sft).base_path()).weights_file())
    assert trained < 0.6 * sum(t.numel() for t in base.values())


def test_a_changed_or_missing_base_is_refused_in_one_line(root, base, chat, tmp_path, capsys):
    import shutil

    moved = tmp_path / "base"
    shutil.copytree(base, moved)
    run = sft(init=moved, data=chat, out=tmp_path / "sft", overrides=SFT)
    weights = RunFolder(moved).weights_file()
    tensors = load_file(weights)
    tensors["ln_f.weight"][0] += 1.0
    from safetensors.torch import save_file

    save_file(tensors, str(weights))
    assert cli.main(["sample", str(run), "--max-new-tokens", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "changed since the adapter was trained" in err and len(err.splitlines()) == 1
    assert cli.main(["sft", "--resume", str(run), "--max-iters", "6"]) == 2
    assert "changed since the adapter was trained" in capsys.readouterr().err
    shutil.rmtree(moved)
    assert cli.main(["chat", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert "base run" in err and "is missing" in err and len(err.splitlines()) == 1


def test_merge_writes_an_ordinary_run_with_the_same_logits_that_later_stages_start_from(lora_sft, chat, tmp_path):
    assert cli.main(["merge", str(lora_sft), "--out", str(tmp_path / "merged")]) == 0
    merged = tmp_path / "merged"
    assert (merged / "model.safetensors").is_file() and "adapter" not in RunFolder(merged).read_config()
    with torch.no_grad():
        torch.testing.assert_close(load_run(merged).model(ids()), load_run(lora_sft).model(ids()), atol=1e-6, rtol=0)
    again = sft(init=merged, data=chat, out=tmp_path / "again", overrides={**SFT, "max_iters": 2})
    on_adapter = sft(init=lora_sft, data=chat, out=tmp_path / "on-adapter", overrides={**SFT, "max_iters": 2})
    # an adapter over an adapter run: its base is the merged model, the same as the merged run
    with torch.no_grad():
        torch.testing.assert_close(load_run(again).model(ids()), load_run(on_adapter).model(ids()), atol=1e-5, rtol=0)


# ---- the reference for free -----------------------------------------------------------------------------
def test_lora_dpo_scores_the_reference_with_its_own_model_and_starts_at_ln_2(base, root, tmp_path, monkeypatch):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", standard_rows())
    monkeypatch.setenv("LMLAB_CACHE", str(tmp_path / "cache"))  # no cached reference log-probs

    def refuse(*args, **kwargs):
        raise AssertionError("a second copy of the model was loaded")

    monkeypatch.setattr("lmlab.stages.dpo.load_run", refuse)
    run = dpo(DPOConfig.build("tiny"), init=base, data=pairs, out=tmp_path / "dpo", overrides={**FP32, **LORA})
    first = logged(run)[0]
    assert first["step"] == 1 and math.isclose(first["loss"], math.log(2), abs_tol=1e-6)
    assert (run / "adapter_model.safetensors").is_file()
    monkeypatch.undo()
    full = dpo(DPOConfig.build("tiny"), init=base, data=pairs, out=tmp_path / "full", overrides=FP32)
    assert math.isclose(logged(full)[0]["loss"], first["loss"], abs_tol=1e-6)


def test_lora_grpo_and_ppo_use_the_policy_without_adapters_as_reference(sentiment_policy, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a second copy of the model was loaded")

    monkeypatch.setattr("lmlab.runs.load_run", refuse)
    small = dict(batch_size=8, max_new_tokens=6, prompts=64, max_iters=2, kl_coef=0.05, **FP32, **LORA)
    g = grpo(GRPOConfig.build("tiny"), init=sentiment_policy, out=tmp_path / "grpo", overrides=small)
    p = ppo(PPOConfig.build("tiny"), init=sentiment_policy, reward="sentiment", out=tmp_path / "ppo",
            overrides={**small, "shared_trunk": True})  # fmt: skip
    for run in (g, p):
        first = logged(run)[0]
        assert first["objective/kl"] == pytest.approx(0.0, abs=1e-6)  # before any update: policy == reference
        assert (run / "adapter_model.safetensors").is_file()
    assert "base_model.model.value_head.weight" in load_file(p / "adapter_model.safetensors")  # new: in full
    monkeypatch.undo()
    load_run(p)  # the policy alone (the value head is training-only)


def test_a_lora_reward_model_trains_its_score_in_full_and_loads_as_a_reward_model(base, tmp_path):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", standard_rows())
    run = reward(RewardConfig.build("tiny"), init=base, data=pairs, out=tmp_path / "rm", overrides={**FP32, **LORA})
    tensors = load_file(run / "adapter_model.safetensors")
    assert "base_model.model.score.weight" in tensors and any(".gpt.h.0.attn.c_attn.lora_A" in k for k in tensors)
    model = load_run(run, kind="reward-model").model
    assert model.score.weight.abs().sum() > 0


# ---- bad input --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "flags, message",
    [
        (["--lora-rank", "0"], "lora_rank must be between 1 and"),
        (["--lora-rank", "33"], "lora_rank must be between 1 and 32"),
        (["--lora-targets", "attention,q_proj"], "lora_targets: unknown layer q_proj"),
        (["--lora-train", "norms"], "lora_train: unknown module norms"),
        (["--lora", "--lora-alpha", "0"], "lora_alpha must be > 0"),
        (["--lora-base-dtype", "bfloat16", "--dtype", "float32"], "lora_base_dtype bfloat16 needs bf16 autocast"),
    ],
)
def test_bad_lora_settings_are_one_line_exit_2_and_make_no_run(base, chat, tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    argv = ["sft", "--init", str(base), "--data", str(chat), "--out", str(out), "--no-progress", *flags]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_lora_on_pretraining_is_one_line_exit_2(tmp_path, capsys):
    assert cli.main(["pretrain", "--preset", "tiny", "--lora-rank", "8", "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip()
    assert "pretrain trains every weight" in err and len(err.splitlines()) == 1 and not (tmp_path / "p").exists()


def test_an_adapter_over_a_base_of_another_shape_or_tokenizer_is_refused_in_one_line(lora_sft, root, tmp_path, capsys):
    import shutil

    from lmlab.stages.pretrain import PretrainConfig, pretrain

    corpus = root / "wide.txt"
    corpus.write_text("".join(corpus_lines()))
    overrides = dict(data=str(corpus), max_iters=1, block_size=128, n_embd=48, **FP32)
    wide = pretrain(PretrainConfig.build("tiny", overrides=overrides), out=root / "wide")
    other = tiny_run(root, ["XYZ qqq! @\n"] * 300, "other")
    for base, name, message in ((wide, "shape", "is another shape (n_embd 48, the adapter's 32)"),
                                (other, "tokenizer", "has another tokenizer")):  # fmt: skip
        run = tmp_path / name
        shutil.copytree(lora_sft, run)
        folder = RunFolder(run)
        folder.update_record({"adapter": {**folder.read_config()["adapter"], "base": str(base.resolve())}})
        assert cli.main(["sample", str(run), "--max-new-tokens", "2"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err


# ---- export: transformers + peft, without lmlab ------------------------------------------------------------
PEFT_SIDE = """
import json, sys
sys.modules["lmlab"] = None  # lmlab cannot be imported here
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM
out, ids = sys.argv[1], json.loads(sys.argv[2])
model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(out + "/base"), out + "/adapter").eval()
with torch.no_grad():
    print(json.dumps(model(torch.tensor(ids)).logits.tolist()))
"""


@pytest.mark.parametrize("layout, options", [("gpt2", {}), ("llama", LLAMA)])
def test_export_adapter_gives_peft_over_transformers_the_logits_of_lmlab(root, chat, tmp_path, layout, options):
    from lmlab.stages.pretrain import PretrainConfig, pretrain

    corpus = root / f"{layout}.txt"
    corpus.write_text("".join(corpus_lines()))
    overrides = dict(data=str(corpus), max_iters=2, block_size=64, n_head=2, **options, **FP32)
    base = pretrain(PretrainConfig.build("tiny", overrides=overrides), out=tmp_path / "base")
    run = sft(init=base, data=chat, out=tmp_path / "sft", overrides={**SFT, "lora_train": "head"})
    assert cli.main(["export", str(run), str(tmp_path / "hf"), "--adapter"]) == 0
    config = json.loads((tmp_path / "hf" / "adapter" / "adapter_config.json").read_text())
    assert set(config["target_modules"]) == (
        {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"} if layout == "gpt2"
        else {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    )  # fmt: skip
    tokens = ids(2, 16)
    result = subprocess.run([sys.executable, "-c", PEFT_SIDE, str(tmp_path / "hf"), json.dumps(tokens.tolist())],
                            capture_output=True, text=True, check=True)  # fmt: skip
    theirs = torch.tensor(json.loads(result.stdout.strip().splitlines()[-1]))
    with torch.no_grad():
        ours = load_run(run).model(tokens)
    torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=0)
    assert cli.main(["export", str(run), str(tmp_path / "merged")]) == 0  # the merged model, as any run exports
    assert (tmp_path / "merged" / "model.safetensors").is_file()


def test_a_run_keeps_its_lora_setting_and_merge_refuses_a_whole_model(lora_sft, base, tmp_path, capsys):
    assert cli.main(["sft", "--resume", str(lora_sft), "--no-lora", "--max-iters", "6"]) == 2
    assert "a run keeps its LoRA setting" in capsys.readouterr().err
    assert cli.main(["merge", str(base), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a LoRA run" in err and len(err.splitlines()) == 1 and not (tmp_path / "m").exists()


def test_a_bf16_base_trains_fp32_adapters_and_loads_like_any_run(base, chat, tmp_path):
    run = sft(init=base, data=chat, out=tmp_path / "bf16", overrides={**SFT, "dtype": "bfloat16",
                                                                      "lora_base_dtype": "bfloat16"})  # fmt: skip
    tensors = load_file(run / "adapter_model.safetensors")
    assert {t.dtype for t in tensors.values()} == {torch.float32}
    model = load_run(run).model
    assert model.h[0].attn.c_attn.weight.dtype == torch.float32  # merged into the base's own precision
    assert any(t.abs().sum() > 0 for k, t in tensors.items() if "lora_B" in k)
