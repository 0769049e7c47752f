"""--parallel fsdp (FSDP2, torch's fully_shard) must train exactly as DDP does, resume on another number of processes,
and keep every promise of the run folder; torchrun with gloo runs it all on the CPU.

Two processes accumulating A micro-batches read the batches of one process accumulating 2A (lmlab.trainer); FSDP
reduce-scatters where DDP all-reduces, so only the order of float additions differs: < 1e-6 in losses and weights.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file
from test_ddp import ONE, TORCHRUN, assert_same_training, losses, train

from lmlab.stages.pretrain import PretrainConfig, pretrain

FSDP = ["--parallel", "fsdp"]


def pretrain_args(text_file, iters: int = 6) -> list[str]:
    return ["pretrain", "--preset", "tiny", "--data", str(text_file), "--max-iters", str(iters), "--log-interval", "1",
            "--dropout", "0.1", "--dtype", "float32", "--no-progress"]  # fmt: skip


def fails(command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert result.returncode != 0
    return result


def test_fsdp_pretraining_on_two_processes_matches_one_process_with_twice_the_accumulation(text_file, tmp_path):
    common = pretrain_args(text_file) + ["--eval-interval", "3"]
    train(TORCHRUN + common + FSDP + ["--grad-accum", "2", "--out", str(tmp_path / "fsdp")])
    train(ONE + common + ["--grad-accum", "4", "--out", str(tmp_path / "one")])
    assert_same_training(tmp_path / "fsdp", tmp_path / "one", steps=6)
    # each sharded block recomputed in the backward (its weights gathered again there): the same numbers
    checkpointed = ["--activation-checkpointing", "--grad-accum", "2", "--out", str(tmp_path / "fsdp-ac")]
    train(TORCHRUN + common + FSDP + checkpointed)
    assert_same_training(tmp_path / "fsdp-ac", tmp_path / "one", steps=6)
    ckpt = tmp_path / "fsdp" / "ckpt" / "step-0000006"
    shards = sorted(p.name for p in (ckpt / "optimizer").glob("*.distcp"))
    assert len(shards) == 2, shards  # each process wrote its own part of AdamW's state
    # the checkpoint's weights are one full ordinary file, the same as the published one
    a, b = load_file(ckpt / "model.safetensors"), load_file(tmp_path / "fsdp" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_fsdp_sft_dpo_and_reward_model_on_two_processes_match_one_process(text_file, tmp_path):
    config = dict(data=str(text_file), dtype="float32", progress=False, max_iters=2, block_size=48)
    pretrained = pretrain(PretrainConfig.build("tiny", overrides=config), out=tmp_path / "pre")
    chat, pairs = tmp_path / "chat.jsonl", tmp_path / "pairs.jsonl"
    with open(chat, "w") as f:
        for i in range(40):
            turns = [{"role": "user", "content": f"What is {i} + 1?"}, {"role": "assistant", "content": str(i + 1)}]
            f.write(json.dumps({"messages": turns}) + "\n")
    with open(pairs, "w") as f:
        for i in range(40):
            row = {"prompt": f"verse {i} " + "ab"[i % 2] * (1 + i % 5), "chosen": " good" + " word" * (i % 3),
                   "rejected": " bad" + "." * (1 + i % 4)}  # fmt: skip
            f.write(json.dumps(row) + "\n")
    flags = ["--init", str(pretrained), "--batch-size", "2", "--log-interval", "1", "--dropout", "0.1",
             "--dtype", "float32", "--no-progress"]  # fmt: skip
    sft = ["sft", "--data", str(chat), "--max-iters", "4", "--eval-interval", "2"] + flags
    train(TORCHRUN + sft + FSDP + ["--grad-accum", "1", "--out", str(tmp_path / "sft-fsdp")])
    train(ONE + sft + ["--grad-accum", "2", "--out", str(tmp_path / "sft-one")])
    assert_same_training(tmp_path / "sft-fsdp", tmp_path / "sft-one", steps=4)
    dpo = ["dpo", "--data", str(pairs), "--max-iters", "3", "--lr", "1e-3", "--warmup-iters", "1"] + flags
    train(TORCHRUN + dpo + FSDP + ["--grad-accum", "1", "--out", str(tmp_path / "dpo-fsdp")])
    train(ONE + dpo + ["--grad-accum", "2", "--out", str(tmp_path / "dpo-one")])
    assert_same_training(tmp_path / "dpo-fsdp", tmp_path / "dpo-one", steps=3)
    reward = ["reward", "--data", str(pairs), "--max-iters", "3", "--warmup-iters", "1"] + flags
    train(TORCHRUN + reward + FSDP + ["--grad-accum", "1", "--out", str(tmp_path / "rm-fsdp")])
    train(ONE + reward + ["--grad-accum", "2", "--out", str(tmp_path / "rm-one")])
    assert_same_training(tmp_path / "rm-fsdp", tmp_path / "rm-one", steps=3)


def test_a_run_saved_by_two_processes_resumes_on_one_and_the_reverse(text_file, tmp_path):
    """The checkpoint of step 3 is resharded on resume; the accumulation adjusts so the global batch stays 4
    micro-batches, and the finished runs equal the uninterrupted one."""
    common = pretrain_args(text_file, iters=3) + FSDP + ["--lr-decay-iters", "6", "--eval-interval", "3"]
    train(ONE + pretrain_args(text_file) + FSDP + ["--grad-accum", "4", "--out", str(tmp_path / "whole")])
    train(TORCHRUN + common + ["--grad-accum", "2", "--out", str(tmp_path / "two-one")])
    train(ONE + ["pretrain", "--resume", str(tmp_path / "two-one"), "--max-iters", "6"])
    train(ONE + common + ["--grad-accum", "4", "--out", str(tmp_path / "one-two")])
    train(TORCHRUN + ["pretrain", "--resume", str(tmp_path / "one-two"), "--max-iters", "6"])
    for run in ("two-one", "one-two"):
        assert_same_training(tmp_path / run, tmp_path / "whole", steps=6)
    record = (tmp_path / "one-two" / "config.yaml").read_text()
    assert "grad_accum: 2" in record and "world_size: 2" in record, record


def test_damaged_optimizer_shard_is_named_in_one_line(text_file, tmp_path):
    run = tmp_path / "run"
    train(TORCHRUN + pretrain_args(text_file, iters=2) + FSDP + ["--eval-interval", "2", "--out", str(run)])
    shard = sorted((run / "ckpt" / "step-0000002" / "optimizer").glob("*.distcp"))[1]
    shard.write_bytes(shard.read_bytes()[:100])
    result = fails(ONE + ["pretrain", "--resume", str(run), "--max-iters", "4"])
    assert result.stderr.strip().splitlines()[-1].startswith(f"lmlab: error: {shard}: truncated"), result.stderr[-800:]
    assert "Traceback" not in result.stderr
    weights = run / "ckpt" / "step-0000002" / "model.safetensors"
    shard.unlink()
    weights.write_bytes(weights.read_bytes()[:50])
    result = fails(ONE + ["pretrain", "--resume", str(run), "--max-iters", "4"])
    assert result.stderr.strip().splitlines()[-1].startswith(f"lmlab: error: {shard}: missing"), result.stderr[-800:]


def test_a_sharded_run_killed_at_any_moment_resumes_to_the_uninterrupted_result(text_file, tmp_path):
    """kill -9 of both processes (and torchrun) while they train and checkpoint every step: the run resumes from its
    last whole checkpoint, no temporary folder is left, and it ends where the uninterrupted run ends."""
    common = pretrain_args(text_file, iters=40) + FSDP + ["--eval-interval", "1", "--eval-iters", "1"]
    run = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    job = subprocess.Popen(TORCHRUN + common + ["--out", str(run)], env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (run / "ckpt" / "step-0000003").exists():
        time.sleep(0.05)
    kill_tree(job.pid)
    job.wait()
    steps = len(losses(run))
    assert 3 <= steps < 40, steps  # killed mid-run
    train(TORCHRUN + ["pretrain", "--resume", str(run)])
    assert not [p.name for p in (run / "ckpt").iterdir() if ".tmp" in p.name]
    train(TORCHRUN + common + ["--out", str(tmp_path / "whole")])
    assert_same_training(run, tmp_path / "whole", steps=40)


def kill_tree(pid: int):
    """SIGKILL a process and its children at once (torchrun starts each worker in a session of its own)."""
    children = []
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:  # the parent's pid
                children.append(int(stat))
    for p in [pid, *children]:
        os.kill(p, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_torchrun_agents_train_as_one_agent(text_file, tmp_path, parallel):
    """Two nodes as two torchrun agents on one machine (c10d rendezvous over TCP, gloo): each agent starts one
    process; the run equals a single agent's two processes."""
    common = pretrain_args(text_file, iters=4) + ["--parallel", parallel, "--eval-interval", "4"]
    port = free_port()
    agent = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
             "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", f"lmlab-{parallel}",
             "-m", "lmlab"] + common + ["--out", str(tmp_path / "nodes")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    agents = [subprocess.Popen(agent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]  # fmt: skip
    outputs = [a.communicate(timeout=300) for a in agents]
    assert all(a.returncode == 0 for a in agents), [err[-2000:] for _, err in outputs]
    train(TORCHRUN + common + ["--out", str(tmp_path / "single")])
    assert_same_training(tmp_path / "nodes", tmp_path / "single", steps=4)


def test_fsdp_rl_stages_sample_from_the_whole_model_and_train_as_one_process(sentiment_policy, tmp_path):
    """PPO and GRPO sample their rollouts from the gathered model (each process its own rows, with no collective per
    token), then train sharded: the same rollouts and updates as one process with twice the accumulation."""
    ppo = ["ppo", "--init", str(sentiment_policy), "--reward", "sentiment", "--preset", "tiny", "--max-iters", "2",
           "--epochs", "1", "--num-minibatches", "1", "--batch-size", "4", "--max-new-tokens", "8", "--lr", "3e-3",
           "--log-interval", "1", "--dtype", "float32", "--no-progress"]  # fmt: skip
    train(TORCHRUN + ppo + FSDP + ["--grad-accum", "2", "--out", str(tmp_path / "ppo-fsdp")])
    train(ONE + ppo + ["--grad-accum", "4", "--out", str(tmp_path / "ppo-one")])
    assert_same_training(tmp_path / "ppo-fsdp", tmp_path / "ppo-one", steps=2, key_bias=False)
    grpo = ["grpo", "--init", str(sentiment_policy), "--reward", "sentiment", "--preset", "tiny", "--max-iters", "2",
            "--batch-size", "8", "--group-size", "4", "--max-new-tokens", "8", "--lr", "3e-3", "--log-interval", "1",
            "--dtype", "float32", "--no-progress"]  # fmt: skip
    train(TORCHRUN + grpo + FSDP + ["--grad-accum", "1", "--out", str(tmp_path / "grpo-fsdp")])
    train(ONE + grpo + ["--grad-accum", "2", "--out", str(tmp_path / "grpo-one")])
    assert_same_training(tmp_path / "grpo-fsdp", tmp_path / "grpo-one", steps=2, key_bias=False)
    for run in ("ppo-fsdp", "grpo-fsdp"):
        scores = [json.loads(line)["objective/scores"] for line in (tmp_path / run / "metrics.jsonl").open()]
        assert any(s != 0 for s in scores), scores  # the rollouts were scored: a real update, not a zero loss
