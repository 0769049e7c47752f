"""Recurrent language models: Elman RNN, LSTM (Hochreiter & Schmidhuber 1997) and GRU (Cho et al. 2014).

The model is the same pipeline as GPT with the Transformer blocks replaced by a recurrence:
    x_t = E[idx_t];  h_t = cell(x_t, h_{t-1});  logits_t = W_out h_t
where the cell is tanh(W x_t + U h_{t-1} + b) for "rnn", the gated LSTM or the gated GRU, stacked
n_layer deep, all from torch.nn (cuDNN kernels on a GPU). The hidden state starts at zero in
every block, so the gradient flows back at most block_size steps: truncated backprop through
time over the block (Williams & Peng 1990). Fields read from ModelConfig: arch, n_layer, n_embd,
hidden_size (0 means n_embd), block_size (the training window and the sampling window), dropout,
tie_embeddings, vocab_size. Shapes: B batch, T time, C n_embd, H hidden_size, V vocab.
"""

import torch.nn as nn

from lmlab.models.config import ModelConfig

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentLM(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        assert cfg.vocab_size > 0, "vocab_size must be set (from the tokenizer)"
        assert cfg.arch in CELLS, f"unknown recurrent arch {cfg.arch!r}"
        self.config = cfg
        C, H = cfg.n_embd, cfg.hidden_size or cfg.n_embd
        self.wte = nn.Embedding(cfg.vocab_size, C)
        self.drop = nn.Dropout(cfg.dropout)
        # Dropout between stacked layers only (Zaremba et al. 2014); torch warns on a single layer.
        self.rnn = CELLS[cfg.arch](
            C, H, num_layers=cfg.n_layer, dropout=cfg.dropout if cfg.n_layer > 1 else 0.0, batch_first=True
        )
        self.lm_head = nn.Linear(H, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings and H == C:
            self.lm_head.weight = self.wte.weight  # weight tying (Press & Wolf 2017; Inan et al. 2017)
        # E ~ N(0, 1/C), read as sqrt(C) * E (Vaswani et al. 2017, sec. 3.4): the recurrence gets
        # unit-scale inputs (no LayerNorm rescales them here) while tied logits h . E stay small.
        nn.init.normal_(self.wte.weight, mean=0.0, std=C**-0.5)
        self.input_scale = C**0.5
        if cfg.arch == "lstm":
            # Forget-gate bias 1 so the cell remembers by default (Jozefowicz et al. 2015); gates are i, f, g, o.
            for name, p in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    nn.init.zeros_(p)
                    p.data[H : 2 * H] = 1.0

    last_state = None

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self) -> float:
        """Training FLOPs per token, fwd+bwd: 6 per weight of the recurrence and the output head.

        The embedding lookup does no matmul; with tying its matrix counts once, as the head.
        """
        recurrent = sum(p.numel() for p in self.rnn.parameters())
        return 6 * (recurrent + self.lm_head.weight.numel())

    def forward(self, idx, last_only: bool = False, state=None):
        """idx (B, T) token ids -> logits (B, T, V), or (B, 1, V) with last_only.

        `state` is the recurrent state to start from (zeros when None); after the call,
        self.last_state holds the final state, for carrying it into the next block.
        """
        x = self.drop(self.wte(idx) * self.input_scale)  # (B, T, C)
        h, self.last_state = self.rnn(x, state)  # h (B, T, H): the top layer's state at every step
        h = self.drop(h)
        if last_only:
            h = h[:, -1:, :]
        return self.lm_head(h)
