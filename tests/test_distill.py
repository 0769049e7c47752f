"""Distillation (lmlab.losses.distill, lmlab distill): the divergences and their gradients against hand-computed
values, and a student that learns its teacher's distributions on text and on conversations."""

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from lmlab import cli
from lmlab.losses import IGNORE
from lmlab.losses.distill import distillation_loss, divergence
from lmlab.runs import RunFolder
from lmlab.stages.distill import DistillConfig, distill
from lmlab.stages.pretrain import PretrainConfig, pretrain

P, Q = [0.7, 0.2, 0.1], [0.5, 0.3, 0.2]  # the teacher's and the student's distributions over 3 tokens


def logits(dist) -> torch.Tensor:
    return torch.tensor([dist], dtype=torch.float64).log()


def kl(a, b) -> float:
    return sum(x * math.log(x / y) for x, y in zip(a, b))


@pytest.mark.parametrize(
    "kind, beta, expected",
    [
        ("forward_kl", 0.5, kl(P, Q)),
        ("reverse_kl", 0.5, kl(Q, P)),
        (
            "jsd",
            0.5,
            0.5 * kl(P, [(p + q) / 2 for p, q in zip(P, Q)]) + 0.5 * kl(Q, [(p + q) / 2 for p, q in zip(P, Q)]),
        ),
        (
            "jsd",
            0.2,
            0.2 * kl(P, [0.2 * p + 0.8 * q for p, q in zip(P, Q)])
            + 0.8 * kl(Q, [0.2 * p + 0.8 * q for p, q in zip(P, Q)]),
        ),  # fmt: skip
    ],
)
def test_divergences_equal_their_hand_computed_values(kind, beta, expected):
    got = divergence(logits(Q), logits(P), kind, beta)
    assert got.item() == pytest.approx(expected, rel=1e-9)


def test_forward_and_reverse_kl_gradients_are_the_closed_forms():
    s = logits(Q).requires_grad_()
    divergence(s, logits(P), "forward_kl").sum().backward()
    assert torch.allclose(s.grad, torch.tensor([Q]) - torch.tensor([P], dtype=torch.float64))  # q - p
    s = logits(Q).requires_grad_()
    divergence(s, logits(P), "reverse_kl").sum().backward()
    q, p = torch.tensor([Q], dtype=torch.float64), torch.tensor([P], dtype=torch.float64)
    assert torch.allclose(s.grad, q * ((q / p).log() - kl(Q, P)))  # q (log q/p - KL(q || p))


def test_the_temperature_softens_both_and_keeps_the_gradient_scale():
    s, t = torch.randn(4, 7, dtype=torch.float64), torch.randn(4, 7, dtype=torch.float64)
    tau = 2.0
    by_hand = (torch.softmax(t / tau, -1) * (torch.log_softmax(t / tau, -1) - torch.log_softmax(s / tau, -1))).sum(-1)
    assert torch.allclose(divergence(s, t, "forward_kl", temperature=tau), tau**2 * by_hand)
    s.requires_grad_()
    divergence(s, t, "forward_kl", temperature=tau).sum().backward()  # tau (q_tau - p_tau)
    assert torch.allclose(s.grad, tau * (torch.softmax(s / tau, -1) - torch.softmax(t / tau, -1)))
    assert torch.autograd.gradcheck(lambda x: divergence(x, t, "jsd", 0.3, tau), (s,))


def test_jsd_is_symmetric_bounded_and_tends_to_the_two_kls_at_its_ends():
    s, t = torch.randn(5, 9, dtype=torch.float64) * 3, torch.randn(5, 9, dtype=torch.float64) * 3
    assert torch.allclose(divergence(s, t, "jsd", 0.5), divergence(t, s, "jsd", 0.5))
    assert (divergence(s, t, "jsd", 0.5) <= math.log(2)).all()
    b = 1e-7  # JSD_beta / (beta (1 - beta)): forward KL as beta -> 0, reverse KL as beta -> 1
    assert torch.allclose(divergence(s, t, "jsd", b) / (b * (1 - b)), divergence(s, t, "forward_kl"), rtol=1e-3)
    assert torch.allclose(divergence(s, t, "jsd", 1 - b) / (b * (1 - b)), divergence(s, t, "reverse_kl"), rtol=1e-3)


def test_the_loss_skips_ignored_targets_and_adds_the_weighted_cross_entropy():
    s, t = torch.randn(2, 3, 5), torch.randn(2, 3, 5)
    targets = torch.tensor([[1, IGNORE, 2], [IGNORE, 4, 0]])
    loss = distillation_loss(s, t, targets, "forward_kl", hard_weight=0.5)
    keep = targets != IGNORE
    d = divergence(s[keep], t[keep], "forward_kl").sum()
    ce = torch.nn.functional.cross_entropy(s[keep], targets[keep], reduction="sum")
    assert int(loss.n) == 4 and loss.sum.item() == pytest.approx((d + 0.5 * ce).item(), rel=1e-5)
    assert loss.metrics["distill/ce"].item() == pytest.approx(ce.item(), rel=1e-5)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    lines = [
        f"verse {i}: the {w} of the {v} is good.\n" for i in range(300) for w, v in (("word", "lord"), ("sea", "king"))
    ]
    (root / "corpus.txt").write_text("".join(lines))
    overrides = dict(data=str(root / "corpus.txt"), max_iters=150, dtype="float32", progress=False, n_embd=64,
                     n_head=4, block_size=64, pos_encoding="rope", norm="rmsnorm", mlp="swiglu",
                     bias=False)  # fmt: skip
    return pretrain(PretrainConfig.build("tiny", overrides=overrides), out=root / "teacher")


def student_overrides(**extra) -> dict:
    base = dict(max_iters=60, eval_interval=5, n_embd=32, block_size=64, dtype="float32", progress=False, lr=1e-2,
                lr_decay_iters=60)  # fmt: skip
    return {**base, **extra}


@pytest.mark.parametrize("kind", ["forward_kl", "reverse_kl", "jsd"])
def test_a_student_on_text_moves_toward_its_teacher(teacher, tmp_path, kind):
    before = load_file(RunFolder(teacher).weights_file())
    run = distill(DistillConfig.build("tiny", overrides=student_overrides(loss=kind)), teacher=teacher,
                  out=tmp_path / "student")  # fmt: skip
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r["val_kl"] for r in records if "val_kl" in r]
    assert evals[-1] < 0.8 * evals[0], evals  # the held-out KL(teacher || student)
    assert records[-1]["distill/divergence"] < 0.75 * records[0]["distill/divergence"]  # its own objective
    after = load_file(RunFolder(teacher).weights_file())
    assert all(torch.equal(before[k], after[k]) for k in before)  # the teacher is frozen
    record = RunFolder(run).read_config()
    assert record["teacher"]["weights_sha256"] == RunFolder(teacher).weights_sha256()
    assert record["model"]["n_embd"] == 32


def test_resume_is_bitwise_and_a_student_run_continues_from_its_weights(teacher, tmp_path):
    config = DistillConfig.build("tiny", overrides=student_overrides(max_iters=30))
    stopped = distill(config, teacher=teacher, out=tmp_path / "a")
    distill(DistillConfig(), resume=stopped, overrides={"max_iters": 60})
    straight = distill(DistillConfig.build("tiny", overrides=student_overrides()), teacher=teacher, out=tmp_path / "b")
    a, b = load_file(stopped / "model.safetensors"), load_file(straight / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    again = distill(DistillConfig.build("tiny", overrides=student_overrides(max_iters=2, lr=0.0, min_lr=0.0)),
                    teacher=teacher, out=tmp_path / "c", overrides={"student": str(straight)})  # fmt: skip
    c = load_file(again / "model.safetensors")
    assert all(torch.equal(b[k], c[k]) for k in b)  # lr 0: the student run's own weights


def test_a_student_on_conversations_learns_at_the_assistant_tokens(teacher, tmp_path):
    run = distill(DistillConfig.build("tiny", overrides=student_overrides(data="tasks", max_iters=6, eval_interval=3)),
                  teacher=teacher, out=tmp_path / "chat")  # fmt: skip
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"val_loss", "val_kl", "distill/divergence"} <= set(last) and math.isfinite(last["val_kl"])
    assert RunFolder(run).read_config()["sft_data"]["data"] == "tasks"


class SaysStop(torch.nn.Module):
    """A run's model that ends every reply at once: +50 on <|end|>."""

    def __init__(self, model, end: int):
        super().__init__()
        self.model, self.end, self.config = model, end, model.config

    def new_cache(self, *args):
        return self.model.new_cache(*args)

    def forward(self, *args, **kwargs):
        logits = self.model(*args, **kwargs).clone()
        logits[..., self.end] += 50.0
        return logits


def test_on_policy_batches_keep_the_prompts_and_learn_the_students_own_reply(teacher):
    from lmlab.data.conversations import render
    from lmlab.runs import load_run
    from lmlab.stages.distill import student_replies
    from lmlab.stages.sft import collate

    loaded = load_run(teacher)
    tok, end = loaded.tokenizer, loaded.tokenizer.special_id("<|end|>")
    conversations = [[{"role": "user", "content": f"add {i} and 2"}, {"role": "assistant", "content": str(i + 2)}]
                     for i in range(3)]  # fmt: skip
    batch = collate([render(tok, c) for c in conversations], tok.special_id("<|pad|>"))
    model = SaysStop(loaded.model, end).train()
    got = student_replies(model, batch, (end, tok.eos_id), tok.special_id("<|pad|>"), seed=0)
    assert model.training  # left as it was
    for b in range(3):
        first = int((batch["targets"][b] != IGNORE).nonzero()[0])  # the prompt: up to <|assistant|>
        assert torch.equal(got["inputs"][b, : first + 1], batch["inputs"][b, : first + 1])
        learned = (got["targets"][b] != IGNORE).nonzero()[:, 0].tolist()
        assert learned == [first] and int(got["targets"][b, first]) == end  # its own reply: <|end|> at once


def test_on_policy_distillation_trains_on_conversations(teacher, tmp_path):
    overrides = student_overrides(data="tasks", max_iters=3, eval_interval=3, on_policy=1.0)
    run = distill(DistillConfig.build("tiny", overrides=overrides), teacher=teacher, out=tmp_path / "gkd")
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 3 and math.isfinite(last["distill/divergence"])


def test_bad_input_is_one_line_exit_2_and_writes_nothing(teacher, tmp_path, capsys):
    bpe = dict(data=str(teacher.parent / "corpus.txt"), max_iters=1, progress=False, tokenizer="bpe",
               bpe_vocab_size=300)  # fmt: skip
    other = pretrain(PretrainConfig.build("tiny", overrides=bpe), out=tmp_path / "other")
    cases = [
        (["--teacher", str(tmp_path / "none")], "no such run folder"),
        ([], "distill needs --teacher RUN"),
        (["--teacher", str(teacher), "--loss", "jsd", "--jsd-beta", "1"], "--jsd-beta 1.0: expected a value between"),
        (["--teacher", str(teacher), "--block-size", "128"], "longer than the teacher's (64)"),
        (["--teacher", str(teacher), "--student", str(other)], "the student's tokenizer is not the teacher's"),
        (["--teacher", str(teacher), "--on-policy", "0.5"], "--on-policy needs conversations"),
        (["--teacher", str(teacher), "--on-policy", "2"], "--on-policy 2.0: expected a share between 0 and 1"),
    ]
    for flags, message in cases:
        out = tmp_path / "bad"
        assert cli.main(["distill", "--preset", "tiny", "--out", str(out), "--no-progress", *flags]) == 2, flags
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (flags, err)
        assert not out.exists()
