"""The recurrent language models: shapes, learning, and the shared pretrain / sample / eval path."""

import json

import numpy as np
import pytest
import torch

from lmlab.cli import main
from lmlab.inference.generate import generate
from lmlab.models import build_model
from lmlab.models.config import ModelConfig
from lmlab.stages.pretrain import PretrainConfig, pretrain

torch.set_num_threads(1)


def tiny(arch: str, **kw) -> ModelConfig:
    return ModelConfig(**{"arch": arch, "n_layer": 2, "n_embd": 16, "block_size": 12, "vocab_size": 20, **kw})


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_forward_shapes_and_loss(arch):
    model = build_model(tiny(arch))
    idx = torch.randint(0, 20, (3, 12))
    assert model(idx).shape == (3, 12, 20)
    assert model(idx, last_only=True).shape == (3, 1, 20)
    assert model(idx).shape == (3, 12, 20)
    assert model.flops_per_token() > 0


def test_embeddings_tied_only_when_sizes_match():
    same = build_model(tiny("lstm"))
    assert same.lm_head.weight is same.wte.weight
    wider = build_model(tiny("lstm", hidden_size=24))
    assert wider.lm_head.weight is not wider.wte.weight and wider.lm_head.weight.shape == (20, 24)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_a_few_steps_reduce_the_loss(arch):
    torch.manual_seed(0)
    model = build_model(tiny(arch))
    idx = torch.arange(13).repeat(4, 1) % 5  # a periodic sequence: easy to predict
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(idx[:, :-1]).flatten(0, 1), idx[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_generation_past_the_context_reads_the_last_block_size_tokens():
    """A recurrent model has no position limit, but it was trained on block_size windows: past it, each step reads
    the last block_size tokens from a fresh state, as the GPT does."""
    torch.manual_seed(0)
    model = build_model(tiny("gru")).eval()
    out = list(generate(model, [1, 2, 3], max_new_tokens=20, temperature=0, seed=0))
    context = [1, 2, 3]
    with torch.no_grad():
        for _ in range(20):
            context.append(int(model(torch.tensor([context[-12:]]))[0, -1].argmax()))
    assert out == context[3:]
    with torch.no_grad():  # and the crop matters: the whole context gives other logits
        whole, cropped = model(torch.tensor([context]))[0, -1], model(torch.tensor([context[-12:]]))[0, -1]
    assert not torch.allclose(whole, cropped)


def test_pretrain_sample_eval_through_the_cli(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat. " * 80)
    run = tmp_path / "run"
    config = PretrainConfig.build(
        "tiny",
        overrides={
            "arch": "lstm",
            "data": str(corpus),
            "cache_dir": str(tmp_path / "cache"),
            "max_iters": 6,
            "eval_interval": 3,
            "progress": False,
            "dtype": "float32",
        },
    )
    path = pretrain(config, out=run)
    assert (path / "model.safetensors").is_file()
    assert (
        main(["sample", str(run), "--prompt", "the", "--max-new-tokens", "40", "--seed", "0", "--device", "cpu"]) == 0
    )
    assert main(["eval", str(run), "--device", "cpu"]) == 0
    assert "val_bpb" in capsys.readouterr().out
    # resume continues the same recurrent run: the steps it had are kept, and it goes on to the new end
    before = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    pretrain(config, resume=run, overrides={"max_iters": 8})
    after = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert after[: len(before)] == before and max(r["step"] for r in after) == 8 > max(r["step"] for r in before)


def test_pretrain_rejects_an_unknown_arch(tmp_path, capsys):
    assert main(["pretrain", "--preset", "tiny", "--arch", "transformerxl", "--out", str(tmp_path / "r")]) == 2
    assert "arch must be one of" in capsys.readouterr().err


def test_sequential_batches_continue_each_row_in_time():
    from lmlab.data.tokens import sequential_batch

    split = np.arange(10_000, dtype=np.uint16)
    x0, y0, restart0 = sequential_batch(split, 0, 1, 4, 16, n_streams=2)
    x1, _, restart1 = sequential_batch(split, 1, 1, 4, 16, n_streams=2)
    assert restart0 and not restart1
    assert (x1[:, 0] == y0[:, -1]).all()  # the next block starts where the last one ended
    assert len(set(x0[:, 0].tolist())) == 4  # four distinct streams


def test_carried_state_training_learns_and_gpt_is_refused(text_file, tmp_path):
    import json

    from lmlab.errors import LmlabError

    base = dict(
        data=str(text_file),
        progress=False,
        dtype="float32",
        carry_state=True,
        max_iters=30,
        log_interval=5,
        eval_interval=30,
        grad_accum=2,
    )
    run = pretrain(
        PretrainConfig.build("tiny", overrides={**base, "arch": "lstm", "n_layer": 1, "lr": 1e-2}),
        out=tmp_path / "lstm",
    )
    losses = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0] * 0.8
    with pytest.raises(LmlabError, match="carry_state needs a recurrent model"):
        pretrain(PretrainConfig.build("tiny", overrides=base), out=tmp_path / "gpt")
