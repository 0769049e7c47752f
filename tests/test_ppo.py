"""PPO as a stage: real runs of `lmlab ppo` on a tiny char GPT that has learned to end lines with good, bad, happy
or sad (conftest's sentiment_policy), so VADER (the sentiment judge) scores its continuations and PPO can move them.
"""

import hashlib
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lmlab import cli
from lmlab.eval.preference import evaluate_preference
from lmlab.runs import load_run
from lmlab.stages.ppo import PPOConfig, per_token_rewards, ppo
from lmlab.stages.pretrain import PretrainConfig, pretrain
from lmlab.stages.reward import RewardConfig, reward

FP32 = dict(dtype="float32", progress=False)
SMALL = dict(batch_size=16, max_new_tokens=8, prompts=256, kl_coef=0.01, **FP32)  # with the preset tiny


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("ppo")


@pytest.fixture(scope="module")
def policy(sentiment_policy):
    return sentiment_policy


@pytest.fixture(scope="module")
def ppo_run(root, policy):
    return ppo(PPOConfig.build("tiny"), init=policy, reward="sentiment", out=root / "ppo",
               overrides={**SMALL, "max_iters": 40, "lr": 3e-3, "log_interval": 2, "eval_interval": 20})  # fmt: skip


def pairs_file(path, n: int = 48):
    rows = [{"prompt": f"the lord {i}", "chosen": " good.", "rejected": " bad."} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def reward_run(root, policy):
    return reward(RewardConfig.build("tiny"), init=policy, data=pairs_file(root / "pairs.jsonl"), out=root / "rm",
                  overrides={"max_iters": 20, "lr": 3e-3, **FP32})  # fmt: skip


def logged(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def untimed(record: dict) -> dict:
    """A metrics record without the figures that measure time."""
    return {k: v for k, v in record.items() if not (k.endswith("per_s") or k in ("mfu", "time/rollout_share"))}


def test_ppo_raises_the_true_reward_of_a_tiny_model_within_40_steps(ppo_run):
    records = logged(ppo_run)
    first, last = records[0]["objective/scores"], np.mean([r["objective/scores"] for r in records[-5:]])
    assert last > first + 0.25, (first, last)  # measured: 0.06 -> 0.55
    assert all(0.5 < r["val/ratio"] < 1.5 for r in records)


def test_the_first_minibatch_has_ratio_exactly_1_and_nothing_clipped(ppo_run):
    """The old log-probs come from the very micro-batches the first epoch trains on, so pi / pi_old is 1 exactly."""
    first = logged(ppo_run)[0]
    assert first["step"] == 1
    assert first["val/ratio"] == 1.0 and first["policy/clipfrac_avg"] == 0.0 and first["policy/approxkl_avg"] == 0.0
    assert first["objective/kl"] == 0.0  # the policy is the reference before the first update
    names = ["objective/entropy", "objective/rlhf_reward", "loss/policy_avg", "loss/value_avg", "objective/scores",
             "val/explained_variance", "time/rollout_share", "rollout/tokens_per_s"]  # fmt: skip
    assert all(name in first for name in names), [name for name in names if name not in first]


def test_the_score_is_placed_on_the_last_token_of_each_response():
    """Row 0 ends with its stop token at index 2, row 1 ran out of tokens at index 3, row 2 is one token long."""
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.bool)
    kl = torch.tensor([[0.1, 0.2, 0.3, 9.0], [0.0, 0.1, 0.0, 0.2], [0.5, 9.0, 9.0, 9.0]])
    rewards, non_score = per_token_rewards(torch.tensor([1.0, -2.0, 0.5]), kl, mask, kl_coef=0.1)
    expected = torch.tensor([[-0.01, -0.02, -0.03 + 1.0, 0], [0, -0.01, 0, -0.02 - 2.0], [-0.05 + 0.5, 0, 0, 0]])
    assert torch.allclose(rewards, expected, atol=1e-7)
    assert torch.allclose(non_score, torch.where(mask, -0.1 * kl, 0), atol=1e-7)


def test_a_ppo_run_loads_as_a_causal_lm_without_its_critic(ppo_run, policy):
    model, _, record = load_run(ppo_run)
    assert record["stage"] == "ppo" and record["model_kind"] == "causal-lm"
    assert not any(name.startswith("critic.") for name in model.state_dict())
    saved = load_file(ppo_run / "model.safetensors")
    assert any(name.startswith("critic.") for name in saved)  # the checkpoint holds the critic too
    result = evaluate_preference(ppo_run, "sentiment", n=32, max_new_tokens=8, device="cpu")
    assert result["against"] == str(policy) and result["kl"] > 0  # measured against its reference, the init run


def test_ppo_resumed_in_the_middle_of_a_rollout_ends_bitwise_like_the_uninterrupted_run(policy, tmp_path):
    """2 epochs x 2 minibatches = 4 steps per rollout; stop at step 6 (inside the 2nd rollout), resume to 8."""
    cfg = {**SMALL, "epochs": 2, "num_minibatches": 2, "max_iters": 6, "lr_decay_iters": 8, "eval_interval": 6,
           "kl_target": 2.0, "lr": 3e-3, "log_interval": 1}  # fmt: skip
    stopped = ppo(PPOConfig.build("tiny"), init=policy, reward="sentiment", out=tmp_path / "a", overrides=cfg)
    ppo(resume=stopped, overrides={"max_iters": 8})
    straight = ppo(PPOConfig.build("tiny"), init=policy, reward="sentiment", out=tmp_path / "b",
                   overrides={**cfg, "max_iters": 8})  # fmt: skip
    a, b = load_file(stopped / "model.safetensors"), load_file(straight / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    records = [[untimed(r) for r in logged(run)] for run in (stopped, straight)]
    assert records[0] == records[1] and len(records[1]) == 8
    assert records[1][-1]["objective/kl_coef"] != 0.01  # the adaptive coefficient moved, and resumed with its value


def folder_hashes(folder) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def other_reward_run(root):
    """A reward model whose char vocabulary differs from the policy's."""
    (root / "other.txt").write_text("".join(f"XYZ {i} qqq! @ {i * 7}\n" for i in range(2000)))
    other = pretrain(PretrainConfig.build("tiny", overrides=dict(data=str(root / "other.txt"), max_iters=2, **FP32)),
                     out=root / "other")  # fmt: skip
    return reward(RewardConfig.build("tiny"), init=other, data=pairs_file(root / "pairs2.jsonl"), out=root / "rm2",
                  overrides={"max_iters": 1, **FP32})  # fmt: skip


def test_bad_rewards_are_one_line_errors_with_exit_code_2_that_touch_nothing(
    policy, reward_run, other_reward_run, tmp_path, capsys
):
    cases = [
        (str(other_reward_run), "the reward model has another tokenizer than the policy"),
        (str(policy), "is a pretrain run of a causal-lm model, not a reward model"),
        ("sentimental", "expected a reward-model run folder, or a judge: sentiment | tasks"),
    ]
    runs = (policy, reward_run, other_reward_run)
    before = {run: folder_hashes(run) for run in runs}
    for k, (spec, message) in enumerate(cases):
        out = tmp_path / f"out{k}"
        args = ["ppo", "--init", str(policy), "--reward", spec, "--out", str(out), "--preset", "tiny", "--no-progress"]
        capsys.readouterr()
        assert cli.main(args) == 2, spec
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("lmlab: error: ") and message in err[0], (spec, err)
        assert not out.exists()
    assert {run: folder_hashes(run) for run in runs} == before


def test_ppo_against_a_reward_model_starts_its_critic_from_it(policy, reward_run, tmp_path):
    run = ppo(PPOConfig.build("tiny"), init=policy, reward=reward_run, out=tmp_path / "p",
              overrides={**SMALL, "max_iters": 1, "lr": 1e-9, "min_lr": 1e-9})  # fmt: skip
    critic = {k.removeprefix("critic."): v for k, v in load_file(run / "model.safetensors").items()
              if k.startswith("critic.")}  # fmt: skip
    rm = load_file(reward_run / "model.safetensors")
    assert critic.keys() == rm.keys()
    std = load_run(reward_run, kind="reward-model").record["reward_stats"]["std"]
    # the head is the reward model's over its std (values predict normalised rewards); lr 1e-9 keeps it there
    assert torch.allclose(critic["score.weight"], rm["score.weight"] / std, atol=1e-6)
    assert all(torch.allclose(critic[k], rm[k], atol=1e-6) for k in rm if k != "score.weight")
    assert logged(run)[0]["val/ratio"] == 1.0


def test_ppo_with_a_shared_trunk_trains_a_value_head_and_loads_without_it(policy, tmp_path):
    run = ppo(PPOConfig.build("tiny"), init=policy, reward="sentiment", out=tmp_path / "s",
              overrides={**SMALL, "max_iters": 4, "lr": 3e-3, "shared_trunk": True})  # fmt: skip
    saved = load_file(run / "model.safetensors")
    assert not any(k.startswith("critic.") for k in saved) and saved["value_head.weight"].abs().sum() > 0
    model, _, _ = load_run(run)
    assert "value_head.weight" not in model.state_dict()
    assert logged(run)[0]["val/ratio"] == 1.0
