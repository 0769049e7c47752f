import io
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from lmlab import cli
from lmlab.config import TrainConfig
from lmlab.data import tasks
from lmlab.data.conversations import render, tokenize_conversations, truncate
from lmlab.eval.task_accuracy import task_accuracy
from lmlab.losses import cross_entropy
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.stages.pretrain import PretrainConfig, next_token_loss, pretrain
from lmlab.stages.sft import (
    VAL_PER_TASK,
    BucketedBatches,
    bucketed,
    collate,
    prepare_sft_data,
    sft,
    sft_loss,
)
from lmlab.tokenizer import train_char
from lmlab.trainer import Trainer


@pytest.fixture(scope="module")
def tok():
    return train_char(["abcdefghijklmnopqrstuvwxyz ?!.0123456789+"])


def conversation(question: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def examples(tok, n):
    return [render(tok, conversation("q" * (1 + i % 7), str(i))) for i in range(n)]


def tiny_gpt(tok, **kw):
    torch.manual_seed(0)
    return GPT(ModelConfig(n_layer=2, n_head=2, n_embd=16, block_size=32, vocab_size=tok.vocab_size, **kw))


def test_collate_pads_right_and_learns_only_assistant_tokens(tok):
    short, long = examples(tok, 2)[0], examples(tok, 7)[6]
    batch = collate([short, long], pad_id=tok.special_id("<|pad|>"))
    n = len(short[0]) - 1
    assert batch["inputs"].shape == (2, len(long[0]) - 1)
    assert batch["inputs"][0, n:].eq(tok.special_id("<|pad|>")).all() and batch["targets"][0, n:].eq(-100).all()
    learned = [t for t, m in zip(short[0][1:], short[1][1:]) if m]
    assert batch["targets"][0][batch["targets"][0] != -100].tolist() == learned
    assert learned == tok.encode("0") + [tok.special_id("<|end|>")]


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_padding_does_not_change_a_conversations_logits_or_loss(tok, pos):
    model = tiny_gpt(tok, pos_encoding=pos).eval()
    short, long = examples(tok, 7)[0], examples(tok, 7)[6]
    alone = collate([short], tok.special_id("<|pad|>"))
    padded = collate([short, long], tok.special_id("<|pad|>"))
    n = alone["inputs"].size(1)
    assert torch.allclose(model(alone["inputs"])[0], model(padded["inputs"])[0, :n], atol=1e-5)
    loss_alone, n_alone, _ = next_token_loss(model, alone)
    loss_both, _, _ = next_token_loss(model, padded)
    loss_long, _, _ = next_token_loss(model, collate([long], tok.special_id("<|pad|>")))
    assert torch.allclose(loss_both, loss_alone + loss_long, atol=1e-4) and n_alone == 2


def test_bucketed_batches_cover_each_epoch_once_and_are_a_pure_function_of_the_index(tok):
    data = examples(tok, 50)
    batches = BucketedBatches(data, batch_size=4, seed=3, pad_id=0, window=4)
    again = BucketedBatches(data, batch_size=4, seed=3, pad_id=0, window=4)
    assert batches.batches_per_epoch == 13
    seen = [row[: int((row != -100).sum())] for k in range(13) for row in batches(k)["targets"]]
    assert len(seen) == 50
    assert torch.equal(batches(20)["inputs"], again(20)["inputs"])
    assert torch.equal(batches(2)["inputs"], again(2)["inputs"])
    assert not torch.equal(batches(0)["inputs"], batches(13)["inputs"])  # each epoch reshuffled


def test_bucketed_sizes_are_few_and_at_most_half_again_the_size(tok):
    sizes = [bucketed(n, 10**6) for n in range(1, 5000)]
    assert all(n <= size <= 1.5 * n for n, size in enumerate(sizes, 1))
    assert sorted(set(sizes))[:12] == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64] and len(set(sizes)) == 25
    assert bucketed(100, 80) == 80


def test_bucketed_batches_pad_to_a_few_lengths_and_keep_each_conversations_inputs_and_targets(tok):
    """Few batch shapes (oneDNN keeps kernels per shape); each row is its conversation, then padding."""
    data = [render(tok, conversation("q" * (1 + i % 70), str(i))) for i in range(200)]  # 7 to 78 tokens
    pad = tok.special_id("<|pad|>")
    batches = BucketedBatches(data, batch_size=8, seed=1, pad_id=pad, window=4)
    longest = max(len(ids) for ids, _ in data) - 1
    lengths, seen = set(), []
    for k in range(batches.batches_per_epoch):
        batch = batches(k)
        lengths.add(batch["inputs"].size(1))
        for row, i in enumerate(batches.buckets.epoch(0)[k]):
            alone, seen = collate([data[i]], pad), seen + [i]
            n = alone["inputs"].size(1)
            assert torch.equal(batch["inputs"][row, :n], alone["inputs"][0])
            assert torch.equal(batch["targets"][row, :n], alone["targets"][0])
            assert batch["inputs"][row, n:].eq(pad).all() and batch["targets"][row, n:].eq(-100).all()
    assert sorted(seen) == list(range(200))
    assert lengths <= {8, 12, 16, 24, 32, 48, 64, longest} and max(lengths) == longest == 77


def test_builtin_sft_data_holds_the_rendered_and_truncated_mixture_with_its_counts(tok, monkeypatch):
    """prepare_sft_data streams the mixture into flat arrays: the same (ids, mask) as render + truncate."""
    monkeypatch.setattr("lmlab.data.tasks.BUILTIN_SIZE", 300)
    data = prepare_sft_data("tasks", tok, block_size=40, seed=2)  # 41 tokens: verses truncated, some dropped
    conversations = tasks.builtin_conversations(300, seed=2)
    expected = [kept for c in conversations if (kept := truncate(*render(tok, c), 41))]
    assert [(ids.tolist(), mask.tolist()) for ids, mask in data.train] == expected
    n_truncated = sum(len(render(tok, c)[0]) > 41 for c in conversations)
    assert (data.train.rendered, data.train.truncated, data.train.dropped) == (300, n_truncated, 300 - len(expected))
    assert data.train.truncated > data.train.dropped > 0
    val = [kept for c in tasks.held_out_conversations(VAL_PER_TASK) if (kept := truncate(*render(tok, c), 41))]
    assert [(ids.tolist(), mask.tolist()) for ids, mask in data.val] == val
    chunked = tokenize_conversations(tok, iter(conversations), 41, chunk=7)  # across chunk boundaries
    assert all(np.array_equal(getattr(chunked, k), getattr(data.train, k)) for k in ("ids", "mask", "offsets"))
    assert data.train.ids.dtype == np.uint16
    from_arrays, from_lists = (BucketedBatches(d, 16, seed=0, pad_id=0) for d in (data.train, expected))
    assert all(torch.equal(from_arrays(k)["targets"], from_lists(k)["targets"]) for k in range(20))


def test_gradient_of_one_batch_of_4_equals_accumulating_2_batches_of_2(tok):
    data = examples(tok, 4)
    pad = tok.special_id("<|pad|>")
    grads = []
    for accum, batch_fn in [(1, lambda i: collate(data, pad)), (2, lambda i: collate(data[2 * i : 2 * i + 2], pad))]:
        model = tiny_gpt(tok)
        cfg = TrainConfig(grad_accum=accum, batch_size=4 // accum, grad_clip=0.0, dtype="float32", progress=False)
        trainer = Trainer(model, cfg, None, batch_fn, next_token_loss)
        trainer.optimizer.step = lambda: grads.append([p.grad.clone() for p in model.parameters()])
        trainer.train_step(model)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads))


def test_sft_loss_with_the_head_only_on_assistant_targets_equals_the_full_next_token_loss(tok):
    """What SFT trains with (the output head run only where targets are learned) is the next-token loss of the
    whole padded batch, whose padding and prompt targets are -100: same count, same sum, same gradients.
    In training mode with dropout, both draw the same masks from the same seed."""
    model = tiny_gpt(tok, dropout=0.1).train()
    batch = collate(examples(tok, 7), tok.special_id("<|pad|>"))  # 7 lengths: right padding in 6 rows
    losses, grads = [], []
    for loss_fn in (sft_loss, next_token_loss):
        torch.manual_seed(5)
        loss = loss_fn(model, batch)
        loss.sum.backward()
        losses.append(loss)
        grads.append([p.grad.clone() for p in model.parameters()])
        model.zero_grad(set_to_none=True)
    head_only, full = losses
    assert head_only.n == full.n == int((batch["targets"] != -100).sum()) > 0
    # ~80 nats summed in fp32 over different-sized arrays: equal to rounding, 1e-5 relative.
    assert head_only.sum.item() == pytest.approx(full.sum.item(), rel=1e-5, abs=0)
    assert all(torch.allclose(a, b, rtol=0, atol=1e-6) for a, b in zip(*grads))


def test_sft_loss_runs_the_head_on_a_bucketed_count_of_positions_with_the_same_loss(tok):
    model, head_rows = tiny_gpt(tok), []

    def count_head_rows(module, args, kwargs):
        head_rows.append(int(kwargs["target_mask"].sum()))

    model.register_forward_pre_hook(count_head_rows, with_kwargs=True)
    for n in (3, 5, 7):  # 6, 10 and 14 assistant targets
        batch = collate(examples(tok, n), tok.special_id("<|pad|>"))
        learned = batch["targets"] != -100
        loss = sft_loss(model, batch)
        exact = cross_entropy(model(batch["inputs"], target_mask=learned), batch["targets"][learned])
        assert loss.n == exact.n == int(learned.sum()) == 2 * n
        assert loss.sum.item() == pytest.approx(exact.sum.item(), rel=1e-6)
    assert head_rows == [6, 6, 12, 10, 16, 14]  # sft_loss's head, then the exact one


def test_per_conversation_loss_is_the_mean_of_each_conversations_token_mean(tok):
    """Every conversation weighs the same, whatever its length: the loss is the sum of the per-conversation means
    over the conversations that have a target, and n counts them (a row of padding only is left out)."""
    model = tiny_gpt(tok)
    rows = [render(tok, conversation("q", "1")), render(tok, conversation("qq", "12345678"))]
    batch = collate(rows, tok.special_id("<|pad|>"))
    batch["targets"] = torch.cat([batch["targets"], torch.full_like(batch["targets"][:1], -100)])  # no target
    batch["inputs"] = torch.cat([batch["inputs"], batch["inputs"][:1]])
    loss = sft_loss(model, batch, per_conversation=True)
    logits = model(batch["inputs"])
    means = [F.cross_entropy(logits[b], batch["targets"][b], ignore_index=-100) for b in range(2)]
    counts = [int((batch["targets"][b] != -100).sum()) for b in range(2)]
    assert counts == [2, 9] and int(loss.n) == 2
    assert loss.sum.item() == pytest.approx(sum(m.item() for m in means), rel=1e-5)
    per_token = sft_loss(model, batch)
    assert int(per_token.n) == 11  # the default weighs tokens: the long reply holds 9 of the 11
    assert per_token.sum.item() == pytest.approx(sum(m.item() * c for m, c in zip(means, counts)), rel=1e-5)


@pytest.mark.parametrize(
    ("data", "weighting", "expected"),
    [("chat", "auto", True), ("tasks", "auto", False), ("my.jsonl", "auto", False), ("my.jsonl", "conversation",
     True), ("chat", "token", False)],
)  # fmt: skip
def test_loss_weighting_auto_weighs_conversations_only_in_the_builtin_chat_mixture(data, weighting, expected):
    from lmlab.stages.sft import SFTConfig

    config = SFTConfig.build(overrides={"data": data, "loss_weighting": weighting})
    assert config.sft.per_conversation() is expected


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft")
    corpus = root / "corpus.txt"
    lines = [f"What is {i} + {j}? {i + j}. Spell 'the' backwards.\n" for i in range(30) for j in range(30)]
    corpus.write_text("".join(lines))
    overrides = dict(data=str(corpus), dtype="float32", progress=False, max_iters=4, block_size=48)
    return pretrain(PretrainConfig.build("tiny", overrides=overrides), out=root / "pre")


def chat_file(path, n=40):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"messages": conversation(f"What is {i} + 1?", str(i + 1))}) + "\n")
        f.write(json.dumps({"prompt": "hi", "completion": "hello"}) + "\n")
    return path


def logged(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_pretrain_sft_chat_eval_end_to_end(pretrained, tmp_path, monkeypatch, capsys):
    data = chat_file(tmp_path / "chat.jsonl")
    args = ["sft", "--init", str(pretrained), "--data", str(data), "--out", str(tmp_path / "sft"), "--max-iters", "6",
            "--batch-size", "4", "--eval-interval", "3", "--no-progress", "--dtype", "float32"]  # fmt: skip
    assert cli.main(args) == 0
    run = tmp_path / "sft"
    record = (run / "config.yaml").read_text()
    assert "stage: sft" in record and str(data) in record
    assert logged(run)[-1]["step"] == 6 and "val_loss" in logged(run)[-1]
    chat_input = "What is 3 + 1?\n/temperature 0\n/system be short\nhi\n/quit\nnever read\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(chat_input))
    capsys.readouterr()
    assert cli.main(["chat", str(run), "--max-new-tokens", "5", "--seed", "0"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # piped: one line per reply, nothing else
    assert cli.main(["eval", str(pretrained), str(run), "--tasks", "add_1d,count_letter", "--n", "3"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].startswith("add_1d") and table[1].count("%") == 2 and table[2].startswith("count_letter")
    assert set(task_accuracy(run, ["add_1d"], 2)) == {"add_1d"}


def test_sft_with_dropout_resumed_mid_run_ends_bitwise_like_the_uninterrupted_run(pretrained, tmp_path):
    """4 steps of a 6-step cosine schedule, then --resume to 6 == 6 steps straight: every weight tensor
    bitwise, and the same losses at the same steps (batches and dropout masks are functions of the index)."""
    data = chat_file(tmp_path / "chat.jsonl")
    cfg = dict(max_iters=4, lr_decay_iters=6, warmup_iters=2, batch_size=4, eval_interval=2, log_interval=1,
               dropout=0.1, progress=False, dtype="float32")  # fmt: skip
    stopped = sft(init=pretrained, data=data, out=tmp_path / "a", overrides=cfg)
    sft(resume=stopped, overrides={"max_iters": 6})
    straight = sft(init=pretrained, data=data, out=tmp_path / "b", overrides={**cfg, "max_iters": 6})
    a, b = load_file(stopped / "model.safetensors"), load_file(straight / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    steps_and_losses = [[(r["step"], r["loss"]) for r in logged(run)] for run in (stopped, straight)]
    assert steps_and_losses[0] == steps_and_losses[1] and len(steps_and_losses[1]) == 6


def test_sft_on_the_builtin_tasks_reports_a_learning_curve(pretrained, tmp_path, monkeypatch):
    monkeypatch.setattr("lmlab.data.tasks.BUILTIN_SIZE", 200)
    monkeypatch.setattr("lmlab.stages.sft.EVAL_TASK_N", 2)
    overrides = dict(max_iters=2, batch_size=4, eval_interval=2, progress=False)
    run = sft(init=pretrained, out=tmp_path / "s", overrides=overrides)
    assert {"val_loss", "acc_add_2d", "acc_add_3d", "acc_reverse_word", "acc_count_letter"} <= set(logged(run)[-1])


def test_bad_sft_input_is_one_line_naming_file_and_line(pretrained, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    no_assistant = {"messages": [{"role": "user", "content": "x"}]}
    bad.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n" + json.dumps(no_assistant) + "\n")
    assert cli.main(["sft", "--init", str(pretrained), "--data", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert f"{bad}:2: the conversation has no assistant turn" in capsys.readouterr().err
    assert cli.main(["sft", "--data", str(bad)]) == 2
    assert "--init" in capsys.readouterr().err
