"""The optimizer of the one training loop: AdamW (Loshchilov & Hutter 2019), or Muon for the hidden layers' matrices
beside AdamW for everything else (Jordan et al. 2024, "Muon: an optimizer for hidden layers in neural networks", the
optimizer of the modded-nanogpt speedruns; Liu et al. 2025, "Muon is scalable for LLM training").

Muon keeps a Nesterov momentum of each weight matrix's gradient G, B <- mu B + (1 - mu) G and M = (1 - mu) G + mu B,
and steps along its orthogonalisation O ~ U V^T, where M = U S V^T: five Newton-Schulz iterations in bf16
(torch.optim.Muon) replace every singular value by about 1, so the rare directions of an update grow as fast as the
dominant ones.

Which parameters Muon trains: the 2-D weights that map hidden activations to hidden activations, that is every
trainable 2-D weight except
  - token embeddings (nn.Embedding), and so any head tied to one: a lookup table gets one row's gradient per token,
    not a linear map to orthogonalise (Jordan et al. keep it on AdamW);
  - the output head (a module named lm_head, lmlab's convention), which Jordan et al. found better on AdamW;
  - scalar heads, a side of size 1 (a reward model's score, PPO's value head): orthogonalising a vector only
    normalises it, which throws away the size of its gradient.
For GPT that is the attention and MLP matrices of the blocks. For a recurrent LM it is the recurrence's W and U
(torch stacks the gates' matrices in one, which Muon orthogonalises together, as modded-nanogpt long did with the
stacked query, key and value). AdamW, exactly as with optimizer adamw, trains the rest: the embeddings, the head
and scalar heads with weight decay, the 1-D norm gains and biases without.

Learning rate: torch's "match_rms_adamw" scaling (Liu et al. 2025, sec. 2.2). An A x B update is
lr * 0.2 * sqrt(max(A, B)) * O; O's entries have RMS 1 / sqrt(max(A, B)), so the update's RMS is 0.2 lr whatever the
matrix's shape or the model's width, that of a typical AdamW update. So muon_lr reads in AdamW's units, carries over
between matrices and model sizes, and the decay lr * weight_decay stays in AdamW's range. Keller Jordan's "original"
scaling, lr * sqrt(max(1, A / B)), gives an update RMS that shrinks as 1 / sqrt(width): its lr (~0.02) must be
retuned with the width, and the weight decay with it. Liu et al. reuse AdamW's lr for Muon at scale; on lmlab's
small models Muon wants more: shakespeare-char (4 x 128, AdamW at lr 1e-3), 600 steps decayed fully, reached a
validation loss of 1.93 / 1.88 / 1.90 with muon_lr 4e-3 / 8e-3 / 1.6e-2, against AdamW's 2.22 (2.11 at lr 2e-3).
Hence muon_lr, its own peak (default 8e-3): the schedule (warmup, cosine, time budget) scales it and AdamW's lr by
the same factor (lmlab.trainer.lr_at).

Weight decay: decoupled for both optimizers, p <- p * (1 - lr * weight_decay) each step at the group's current lr;
AdamW decays its matrices and embeddings, not biases and norm gains; Muon decays its matrices by the same
weight_decay.
"""

import torch
import torch.nn as nn

from lmlab.config import TrainConfig
from lmlab.errors import LmlabError


def hidden_matrices(model: nn.Module) -> list[str]:
    """Names of the parameters Muon trains (module docstring): trainable, 2-D with both sides > 1, neither an
    embedding (nor tied to one) nor the output head."""
    tables = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    heads = {id(p) for name, m in model.named_modules() if name.split(".")[-1] == "lm_head" for p in m.parameters()}
    return [
        name
        for name, p in model.named_parameters()  # a tied weight once, under its first name (the embedding's)
        if p.requires_grad and p.dim() == 2 and min(p.shape) > 1 and id(p) not in tables | heads
    ]


def make_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device):
    """AdamW with weight decay on matrices and embeddings only, not on biases and norm gains; with cfg.optimizer
    "muon", Muon for the hidden matrices and that AdamW for the rest. Each param group's lr is its peak."""
    named = dict(model.named_parameters())
    matrices = set(hidden_matrices(model)) if cfg.optimizer == "muon" else set()
    rest = [p for name, p in named.items() if p.requires_grad and name not in matrices]
    groups = [
        {"params": [p for p in rest if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in rest if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = device.type in ("cuda", "cpu")
    adamw = AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused)
    if cfg.optimizer == "adamw":
        return adamw
    if not matrices:
        raise LmlabError(f"optimizer muon: the {type(model).__name__} model has no hidden-layer matrices to train")
    muon = torch.optim.Muon(
        [named[name] for name in named if name in matrices],
        lr=cfg.muon_lr,
        weight_decay=cfg.weight_decay,
        momentum=cfg.muon_momentum,
        nesterov=True,
        ns_steps=5,
        adjust_lr_fn="match_rms_adamw",
    )
    return MuonWithAdamW(muon, adamw)


class AdamW(torch.optim.AdamW):
    """torch's AdamW; resuming it from a Muon run's state says so in one line."""

    def load_state_dict(self, state_dict: dict):
        check_saved_optimizer(state_dict, "adamw")
        super().load_state_dict(state_dict)


class MuonWithAdamW:
    """Muon for the hidden matrices and AdamW for the rest, stepped, zeroed and checkpointed as one optimizer.

    param_groups lists AdamW's groups, then Muon's: the loop sets each group's lr there. The state dict is
    {"adamw": AdamW's state dict, "muon": Muon's}, plain dicts and tensors (torch.load(weights_only=True) reads it).
    """

    def __init__(self, muon: torch.optim.Muon, adamw: torch.optim.AdamW):
        self.muon, self.adamw = muon, adamw

    @property
    def param_groups(self) -> list[dict]:
        return self.adamw.param_groups + self.muon.param_groups

    def step(self):
        self.adamw.step()
        self.muon.step()

    def zero_grad(self, set_to_none: bool = True):
        self.adamw.zero_grad(set_to_none=set_to_none)
        self.muon.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"adamw": self.adamw.state_dict(), "muon": self.muon.state_dict()}

    def load_state_dict(self, state_dict: dict):
        check_saved_optimizer(state_dict, "muon")
        self.adamw.load_state_dict(state_dict["adamw"])
        self.muon.load_state_dict(state_dict["muon"])


def check_saved_optimizer(state_dict: dict, configured: str):
    """One line when a checkpoint's optimizer state is not that of the configured optimizer."""
    if not isinstance(state_dict, dict):
        return  # not an optimizer state at all: the optimizer's own error says so
    saved = "muon" if "muon" in state_dict else "adamw"
    if saved != configured:
        raise LmlabError(
            f"the checkpoint holds {saved} optimizer state, but the run is configured with optimizer {configured}; "
            f"resume with --optimizer {saved} (a run keeps its optimizer)"
        )
