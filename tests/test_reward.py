"""The reward model (lmlab.models.reward) and the reward stage (lmlab.stages.reward) on tiny runs."""

import json

import pytest
import torch
from safetensors.torch import load_file

from lmlab.data.preference_tasks import Prompt
from lmlab.data.tasks import is_held_out
from lmlab.errors import LmlabError
from lmlab.eval.judges import load_judge
from lmlab.models.config import ModelConfig
from lmlab.models.reward import RewardModel
from lmlab.runs import RunFolder, load_run
from lmlab.stages.pretrain import PretrainConfig, pretrain
from lmlab.stages.reward import RewardConfig, reward
from lmlab.tokenizer import train_char

FP32 = dict(dtype="float32", progress=False)


@pytest.fixture(scope="module")
def tok():
    return train_char(["abcdefghijklmnopqrstuvwxyz ?!.0123456789"])


def reward_model(vocab_size: int, **overrides) -> RewardModel:
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=2, n_head=2, n_embd=16, block_size=32, vocab_size=vocab_size, **overrides)
    model = RewardModel(cfg).eval()
    torch.nn.init.normal_(model.score.weight, std=1.0)  # the head starts at 0: every reward would be 0
    return model


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_the_reward_is_read_at_the_last_real_token_whatever_the_padding(tok, pos):
    """Right padding with pad id == <|end|> id, one row ending in a real <|end|>: each row's reward in the
    batch equals its reward alone, and tokens past a row's length never change it."""
    model = reward_model(tok.vocab_size, pos_encoding=pos)
    end = tok.special_id("<|end|>")
    rows = [tok.encode("ab"), tok.encode("hello there") + [end], tok.encode("a longer row of text"), [end]]
    T = max(len(r) for r in rows)
    idx = torch.full((len(rows), T), end, dtype=torch.long)  # pad id == end id
    for b, r in enumerate(rows):
        idx[b, : len(r)] = torch.tensor(r)
    lengths = torch.tensor([len(r) for r in rows])
    with torch.no_grad():
        batched = model(idx, lengths)
        alone = torch.cat([model(torch.tensor([r]), torch.tensor([len(r)])) for r in rows])
        garbage = idx.clone()
        for b, n in enumerate(lengths.tolist()):
            garbage[b, n:] = torch.randint(0, tok.vocab_size, (T - n,))
        changed_padding = model(garbage, lengths)
    assert batched.shape == (4,) and batched.dtype == torch.float32
    assert len(set(alone.tolist())) == 4  # the rows get different rewards, so a wrong position would show
    torch.testing.assert_close(batched, alone, rtol=0, atol=1e-6)
    torch.testing.assert_close(changed_padding, batched, rtol=0, atol=1e-6)
    # The position read matters: reading one token early gives another reward.
    assert not torch.allclose(model(idx, lengths - 1)[:3], batched[:3], atol=1e-3)


def test_the_score_head_starts_at_zero_and_an_untied_lm_head_is_frozen(tok):
    torch.manual_seed(0)
    model = RewardModel(ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=16, vocab_size=tok.vocab_size,
                                    tie_embeddings=False))  # fmt: skip
    idx = torch.tensor([tok.encode("abc"), tok.encode("xyz")])
    assert model(idx, torch.tensor([3, 2])).tolist() == [0.0, 0.0]
    assert not model.gpt.lm_head.weight.requires_grad


# ---- the stage ----------------------------------------------------------------------------
def rows(n: int, chosen, rejected) -> list[dict]:
    return [
        {"prompt": f"verse {i} " + "ab"[i % 2] * (1 + i % 5), "chosen": chosen(i), "rejected": rejected(i)}
        for i in range(n)
    ]


def write_jsonl(path, data):
    path.write_text("".join(json.dumps(row) + "\n" for row in data))
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("reward")


@pytest.fixture(scope="module")
def policy(root):
    corpus = root / "corpus.txt"
    corpus.write_text(
        "".join(f"John {i}:{j} the good word of verse {i * j}.\n" for i in range(1, 30) for j in range(1, 20))
    )
    overrides = dict(data=str(corpus), max_iters=2, block_size=48, **FP32)
    return pretrain(PretrainConfig.build("tiny", overrides=overrides), out=root / "pre")


@pytest.fixture(scope="module")
def pairs(root):
    data = rows(80, lambda i: " good" + " word" * (i % 3), lambda i: " bad" + "." * (1 + i % 4))
    assert sum(is_held_out(json.dumps(row["prompt"])) for row in data) >= 5  # the 10% hash split holds some out
    return write_jsonl(root / "pairs.jsonl", data)


def logged(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_reward_run_records_reward_stats_and_held_out_accuracy(policy, pairs, tmp_path):
    run = reward(RewardConfig.build("tiny"), init=policy, data=pairs, out=tmp_path / "rm", overrides=FP32)
    record = RunFolder(run).read_config()
    assert record["stage"] == "reward" and record["model_kind"] == "reward-model"
    stats = record["reward_stats"]
    assert stats["responses"] == 2 * record["reward_data"]["train"] and stats["std"] > 0
    assert record["reward_data"]["val"] > 0
    result = json.loads((run / "eval.json").read_text())
    assert result["reward_stats"] == stats
    # the held-out accuracy is the share of held-out pairs whose chosen response the saved model scores higher
    held = [json.loads(line) for line in pairs.read_text().splitlines()]
    held = [row for row in held if is_held_out(json.dumps(row["prompt"], sort_keys=True))]
    judge = load_judge(str(run))
    chosen, rejected = (judge.score([Prompt(row["prompt"]) for row in held], [row[k] for row in held])
                        for k in ("chosen", "rejected"))  # fmt: skip
    assert len(held) == record["reward_data"]["val"]
    assert result["val_accuracy"] == pytest.approx(sum(c > r for c, r in zip(chosen, rejected)) / len(held))
    assert result["val_margin"] == pytest.approx(sum(c - r for c, r in zip(chosen, rejected)) / len(held), abs=1e-5)
    with pytest.raises(LmlabError, match="a reward model"):
        load_run(run)  # kind causal-lm
    model, tokenizer, _ = load_run(run, kind="reward-model")
    assert isinstance(model, RewardModel)
    judge = load_judge(str(run))  # a reward run judges any text through its own tokenizer
    scores = judge.score([Prompt("verse 1 a")] * 2, [" good word", " bad."])
    assert judge.task == "sentiment" and len(scores) == 2 and scores[0] != scores[1]


def test_a_reward_model_learns_a_marker_word_to_held_out_accuracy_of_at_least_90_percent(policy, root):
    easy = write_jsonl(root / "easy.jsonl", rows(80, lambda i: " good good", lambda i: " bad bad"))
    overrides = dict(lr=3e-3, max_iters=30, batch_size=8, warmup_iters=2, eval_interval=30, log_interval=10, **FP32)
    run = reward(RewardConfig.build("tiny"), init=policy, data=easy, out=root / "easy", overrides=overrides)
    result = json.loads((run / "eval.json").read_text())
    assert result["val_accuracy"] >= 0.9 and result["val_margin"] > 0.5, result
    assert logged(run)[-1]["loss"] < 0.3


def test_reward_resumed_mid_run_ends_bitwise_like_the_uninterrupted_run(policy, pairs, tmp_path):
    cfg = dict(max_iters=2, lr_decay_iters=4, warmup_iters=1, batch_size=4, eval_interval=2, log_interval=1,
               lr=1e-3, dropout=0.1, **FP32)  # fmt: skip
    stopped = reward(init=policy, data=pairs, out=tmp_path / "a", overrides=cfg)
    reward(resume=stopped, overrides={"max_iters": 4})
    straight = reward(init=policy, data=pairs, out=tmp_path / "b", overrides={**cfg, "max_iters": 4})
    a, b = load_file(stopped / "model.safetensors"), load_file(straight / "model.safetensors")
    assert a.keys() == b.keys() and "score.weight" in a
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert a["score.weight"].abs().max() > 0  # the head trained away from its zero start
    steps_and_losses = [[(r["step"], r["loss"]) for r in logged(run)] for run in (stopped, straight)]
    assert steps_and_losses[0] == steps_and_losses[1] and len(steps_and_losses[1]) == 4
    stats = [RunFolder(run).read_config()["reward_stats"] for run in (stopped, straight)]
    assert stats[0] == stats[1]


def test_a_reward_run_as_init_of_another_reward_run_is_a_user_error(policy, pairs, tmp_path):
    run = reward(init=policy, data=pairs, out=tmp_path / "rm", overrides=dict(max_iters=1, **FP32))
    with pytest.raises(LmlabError, match="must be a causal LM"):
        reward(init=run, data=pairs, out=tmp_path / "again", overrides=dict(max_iters=1, **FP32))
    assert not (tmp_path / "again").exists()
