"""lmlab.losses: the language-model loss, also in chunks for a large vocabulary."""

import torch
import torch.nn.functional as F

from lmlab.losses import IGNORE, cross_entropy, cross_entropy_per_sequence, token_nll


def test_token_nll_in_chunks_gives_the_values_and_gradients_of_one_call(monkeypatch):
    monkeypatch.setattr("lmlab.losses.NLL_CHUNK", 5 * 64)  # 5 rows of 64 logits a chunk
    g = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(23, 64, generator=g)).bfloat16().requires_grad_()
    targets = torch.randint(0, 64, (23,), generator=g)
    targets[::4] = IGNORE
    chunked = token_nll(logits, targets)
    (chunked * torch.arange(23)).sum().backward()  # a weighting, so each row's gradient is checked
    grad, logits.grad = logits.grad.clone(), None
    whole = F.cross_entropy(logits.float(), targets, ignore_index=IGNORE, reduction="none")
    (whole * torch.arange(23)).sum().backward()
    assert chunked.dtype == torch.float32 and torch.equal(chunked, whole) and torch.equal(grad, logits.grad)
    assert torch.equal(chunked[::4], torch.zeros(6))


def test_cross_entropy_above_the_chunk_size_sums_the_same_loss(monkeypatch):
    g = torch.Generator().manual_seed(1)
    logits, targets = torch.randn(4, 9, 32, generator=g), torch.randint(0, 32, (4, 9), generator=g)
    targets[0, :3] = IGNORE
    one_call = cross_entropy(logits, targets)
    flat = (logits.reshape(36, 32), targets.reshape(36), torch.arange(36) // 9, 4)
    per_sequence = cross_entropy_per_sequence(*flat)
    monkeypatch.setattr("lmlab.losses.NLL_CHUNK", 64)
    chunked = cross_entropy(logits, targets)
    assert int(chunked.n) == int(one_call.n) == 33
    torch.testing.assert_close(chunked.sum, one_call.sum)
    chunked_per_sequence = cross_entropy_per_sequence(
        logits.reshape(36, 32), targets.reshape(36), torch.arange(36) // 9, 4
    )
    torch.testing.assert_close(chunked_per_sequence.sum, per_sequence.sum)
