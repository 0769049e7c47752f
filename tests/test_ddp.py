"""torchrun with 2 gloo processes and A micro-batches each must train exactly as 1 process with 2A.

Micro-batch k of step s on rank r is batch (s * world + r) * accum + k, and dropout is seeded by
that index too, so both runs see the same batches and draw the same dropout masks; only the order
of float additions differs (DDP's all-reduce), which leaves < 1e-6 noise in losses and weights.
"""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from lmlab.stages.pretrain import PretrainConfig, pretrain

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "lmlab"]
ONE = [sys.executable, "-m", "lmlab"]


def train(command: list[str]):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # read now: the session's LMLAB_CACHE, set by conftest
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


def losses(run) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_training(ddp, one, steps: int, key_bias: bool = True):
    """Same logged losses (< 1e-5) and final weights (1e-5); the all-reduce's rounding leaves ~5e-7 in either,
    while another batch or dropout mask changes the losses by ~1e-2.

    key_bias=False skips the key part of the attention biases: softmax is invariant to the score q.b_k that a key
    bias adds to every key alike, so its true gradient is 0 and Adam scales the rounding noise there up to ~lr/10."""
    a, b = losses(ddp), losses(one)
    assert len(a) == len(b) == steps
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-5, (a, b)
    wa, wb = load_file(ddp / "model.safetensors"), load_file(one / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        x, y = wa[k], wb[k]
        if not key_bias and k.endswith("attn.c_attn.bias"):
            C = x.numel() // 3  # c_attn's output is (query, key, value)
            x, y = torch.cat([x[:C], x[2 * C :]]), torch.cat([y[:C], y[2 * C :]])
        assert torch.allclose(x, y, rtol=0, atol=1e-5), (k, float((x - y).abs().max()))


def test_two_processes_accumulating_2_with_dropout_match_one_process_accumulating_4(text_file, tmp_path):
    """Covers DDP's no_sync path (the first micro-batch of each step) and the synchronised last one."""
    common = ["pretrain", "--preset", "tiny", "--data", str(text_file), "--max-iters", "6", "--log-interval", "1",
              "--dropout", "0.1", "--dtype", "float32", "--no-progress"]  # fmt: skip
    train(TORCHRUN + common + ["--grad-accum", "2", "--out", str(tmp_path / "ddp")])
    train(ONE + common + ["--grad-accum", "4", "--out", str(tmp_path / "one")])
    assert_same_training(tmp_path / "ddp", tmp_path / "one", steps=6)


def test_a_mixture_of_experts_on_two_processes_matches_one_process(text_file, tmp_path):
    """Routing, its auxiliary losses and the experts that get no token on one rank (their zero gradients) all-reduce
    to what one process computes."""
    common = ["pretrain", "--preset", "tiny", "--data", str(text_file), "--max-iters", "4", "--log-interval", "1",
              "--moe-experts", "16", "--moe-top-k", "1", "--batch-size", "1", "--dtype", "float32",
              "--no-progress"]  # fmt: skip
    train(TORCHRUN + common + ["--grad-accum", "1", "--out", str(tmp_path / "ddp")])
    train(ONE + common + ["--grad-accum", "2", "--out", str(tmp_path / "one")])
    assert_same_training(tmp_path / "ddp", tmp_path / "one", steps=4)
    logged = json.loads((tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()[-1])
    assert logged["moe/aux_loss"] == pytest.approx(
        json.loads((tmp_path / "one" / "metrics.jsonl").read_text().splitlines()[-1])["moe/aux_loss"], abs=1e-5
    )


def test_sft_on_two_processes_matches_one_process_with_twice_the_accumulation(text_file, tmp_path):
    config = dict(data=str(text_file), dtype="float32", progress=False, max_iters=2, block_size=48)
    pretrained = pretrain(PretrainConfig.build("tiny", overrides=config), out=tmp_path / "pre")
    chat = tmp_path / "chat.jsonl"
    with open(chat, "w") as f:
        for i in range(40):
            turns = [{"role": "user", "content": f"What is {i} + 1?"}, {"role": "assistant", "content": str(i + 1)}]
            f.write(json.dumps({"messages": turns}) + "\n")
    common = ["sft", "--init", str(pretrained), "--data", str(chat), "--max-iters", "4", "--batch-size", "4",
              "--eval-interval", "2", "--log-interval", "1", "--dropout", "0.1", "--dtype", "float32",
              "--no-progress"]  # fmt: skip
    train(TORCHRUN + common + ["--grad-accum", "1", "--out", str(tmp_path / "ddp")])
    train(ONE + common + ["--grad-accum", "2", "--out", str(tmp_path / "one")])
    assert_same_training(tmp_path / "ddp", tmp_path / "one", steps=4)


def test_translation_on_two_processes_matches_one_process_with_twice_the_accumulation(tmp_path):
    """translate-train goes through the same stage recipe, so it trains data-parallel like the others."""
    common = ["translate-train", "--preset", "tiny", "--max-iters", "4", "--log-interval", "1", "--dtype", "float32",
              "--bleu-sentences", "1", "--device", "cpu", "--no-progress"]  # fmt: skip
    train(TORCHRUN + common + ["--grad-accum", "1", "--out", str(tmp_path / "ddp")])
    train(ONE + common + ["--grad-accum", "2", "--out", str(tmp_path / "one")])
    assert_same_training(tmp_path / "ddp", tmp_path / "one", steps=4)
    assert (tmp_path / "ddp" / "eval.json").is_file()  # BLEU scored once, on rank 0


def test_dpo_on_two_processes_matches_one_process_with_twice_the_accumulation(text_file, tmp_path):
    """The reference log-probs are computed once by rank 0 and read from the cache by rank 1."""
    config = dict(data=str(text_file), dtype="float32", progress=False, max_iters=2, block_size=48)
    pretrained = pretrain(PretrainConfig.build("tiny", overrides=config), out=tmp_path / "pre")
    pairs = tmp_path / "pairs.jsonl"
    with open(pairs, "w") as f:
        for i in range(40):
            row = {"prompt": f"verse {i} " + "ab"[i % 2] * (1 + i % 5), "chosen": " good" + " word" * (i % 3),
                   "rejected": " bad" + "." * (1 + i % 4)}  # fmt: skip
            f.write(json.dumps(row) + "\n")
    common = ["dpo", "--init", str(pretrained), "--data", str(pairs), "--max-iters", "3", "--batch-size", "2",
              "--lr", "1e-3", "--warmup-iters", "1", "--log-interval", "1", "--dropout", "0.1", "--dtype", "float32",
              "--no-progress"]  # fmt: skip
    train(TORCHRUN + common + ["--grad-accum", "1", "--out", str(tmp_path / "ddp")])
    train(ONE + common + ["--grad-accum", "2", "--out", str(tmp_path / "one")])
    assert_same_training(tmp_path / "ddp", tmp_path / "one", steps=3)


def test_one_ppo_update_on_two_processes_matches_one_process_with_twice_the_accumulation(sentiment_policy, tmp_path):
    """Rollout row g samples with its own seed wherever it runs, the prompts of a rollout are drawn for all processes
    at once, and advantages are whitened over every process's tokens: so the rollout, and the update, are the same.
    Two rollouts of one step each (1 epoch, 1 minibatch): the second samples from the updated policy."""
    common = ["ppo", "--init", str(sentiment_policy), "--reward", "sentiment", "--preset", "tiny", "--max-iters", "2",
              "--epochs", "1", "--num-minibatches", "1", "--batch-size", "4", "--max-new-tokens", "8", "--lr", "3e-3",
              "--log-interval", "1", "--dtype", "float32", "--no-progress"]  # fmt: skip
    train(TORCHRUN + common + ["--grad-accum", "2", "--out", str(tmp_path / "ddp")])
    train(ONE + common + ["--grad-accum", "4", "--out", str(tmp_path / "one")])
    assert_same_training(tmp_path / "ddp", tmp_path / "one", steps=2, key_bias=False)
    records = [[json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
               for run in ("ddp", "one")]  # fmt: skip
    for a, b in zip(*records):
        assert a["objective/scores"] == pytest.approx(b["objective/scores"], abs=1e-6)
        assert a["objective/kl"] == pytest.approx(b["objective/kl"], abs=1e-5)


def test_two_processes_with_torch_compile_match_one_eager_process(text_file, tmp_path):
    """--compile under DDP (the model compiled, then wrapped) trains as the eager single process; inductor's fused
    kernels add their own float rounding, so the bound is looser than the eager pair's."""
    common = ["pretrain", "--preset", "tiny", "--data", str(text_file), "--max-iters", "4", "--log-interval", "1",
              "--dtype", "float32", "--no-progress"]  # fmt: skip
    train(TORCHRUN + common + ["--compile", "--out", str(tmp_path / "ddp")])
    train(ONE + common + ["--grad-accum", "2", "--out", str(tmp_path / "one")])
    a, b = losses(tmp_path / "ddp"), losses(tmp_path / "one")
    assert len(a) == len(b) == 4
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-4, (a, b)
