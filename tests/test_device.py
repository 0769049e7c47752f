import pytest
import torch

from lmlab.device import pick_device, resolve_dtype
from lmlab.errors import LmlabError


def test_auto_prefers_cuda_then_apple_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto").type == "mps"
    assert resolve_dtype("auto", torch.device("mps")) == torch.float32  # documented: bf16 on MPS is opt-in
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto").type == "cpu"


def test_a_device_the_machine_lacks_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(LmlabError, match="MPS backend is not available"):
        pick_device("mps")
    with pytest.raises(LmlabError, match="expected auto, cpu, cuda, cuda:N or mps"):
        pick_device("tpu")
