import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from lmlab.eval.perplexity import evaluate_run
from lmlab.runs import RunFolder
from lmlab.stages.pretrain import PretrainConfig, pretrain


def test_a_gpt_with_all_weights_zero_has_loss_ln_v_and_log2_v_bits_per_byte_on_ascii(text_file, tmp_path):
    """Zero weights give zero logits, a uniform distribution over the V tokens: every target costs ln V nats.
    With the char tokenizer every ASCII character (and the <|eos|> between documents) is one token of one
    byte, so bits per byte = ln V / ln 2 * tokens / bytes = log2 V. Measured through a real run folder."""
    assert text_file.read_text().isascii()
    overrides = dict(data=str(text_file), tokenizer="char", dtype="float32", progress=False, max_iters=2)
    run = pretrain(PretrainConfig.build("tiny", overrides=overrides), out=tmp_path / "run")
    checkpoint = RunFolder(run).latest() / "model.safetensors"  # what evaluate_run loads
    weights = load_file(checkpoint)  # the tied embedding and output head are one tensor here
    assert any(w.abs().sum() > 0 for w in weights.values())
    save_file({name: torch.zeros_like(w) for name, w in weights.items()}, checkpoint)

    metrics = evaluate_run(run, device="cpu", progress=False)

    V = RunFolder(run).tokenizer().vocab_size
    assert metrics["tokens"] > 1000
    assert metrics["val_loss"] == pytest.approx(math.log(V), rel=1e-6)
    assert metrics["val_perplexity"] == pytest.approx(V, rel=1e-5)
    assert metrics["val_bpb"] == pytest.approx(math.log2(V), rel=1e-6)
