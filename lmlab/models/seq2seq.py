"""Encoder-decoder translation models: the path from RNNs to the Transformer.

    rnn             fixed-context RNN encoder-decoder (Cho et al. 2014): the GRU encoder squeezes the
                    whole source into one vector c, fed to every decoder step.
    rnn-attention   Bahdanau et al. 2015: a bidirectional GRU encoder gives annotations h_j; at each
                    step the decoder attends over them with the additive score
                    e_ij = v^T tanh(W s_{i-1} + U h_j), alpha_ij = softmax_j(e_ij), c_i = sum_j alpha_ij h_j.
    transformer     Vaswani et al. 2017, pre-norm, with sinusoidal positions, from torch.nn layers.

All three share one interface, so training and search need not know which they hold:
    forward(src, tgt_in) -> logits (B, T, V)          teacher forcing
    encode(src) -> state                               a dict of batch-first tensors
    step(state, y_prev) -> (logits (B, V), attention (B, S) or None, state)   one decoder step
Source and target are both English and share one tokenizer, so they share one embedding, which is
also the output layer (Press & Wolf 2017). Padding (pad_id) is masked out of every attention.
Shapes: B batch, S source length, T target length, E n_embd, H hidden_size, V vocab.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lmlab.config import derived, opt
from lmlab.errors import LmlabError
from lmlab.models.gpt import sinusoidal_table

MODELS = ("rnn", "rnn-attention", "transformer")


@dataclass
class Seq2SeqConfig:
    model: str = opt("rnn-attention", "rnn | rnn-attention | transformer", MODELS)
    n_layer: int = opt(1, "encoder GRU layers (rnn models); encoder and decoder layers (transformer)")
    n_embd: int = opt(128, "embedding width (d_model of the transformer)")
    hidden_size: int = opt(0, "GRU state width (rnn models); 0 means n_embd")
    n_head: int = opt(4, "attention heads (transformer)")
    dropout: float = opt(0.1, "dropout probability")
    max_len: int = opt(64, "longest source or target in tokens; longer training pairs are left out")
    vocab_size: int = derived(0, "set from the tokenizer")
    pad_id: int = derived(0, "set from the tokenizer")


def build_seq2seq(cfg: Seq2SeqConfig) -> "nn.Module":
    if cfg.model not in MODELS:
        raise LmlabError(f"model must be one of {', '.join(MODELS)}, got {cfg.model!r}")
    return {"rnn": FixedContextSeq2Seq, "rnn-attention": AttentionSeq2Seq, "transformer": TransformerSeq2Seq}[
        cfg.model
    ](cfg)


class Seq2SeqBase(nn.Module):
    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        assert cfg.vocab_size > 0, "vocab_size must be set (from the tokenizer)"
        self.config = cfg
        self.E, self.H = cfg.n_embd, cfg.hidden_size or cfg.n_embd
        self.emb = nn.Embedding(cfg.vocab_size, self.E)
        nn.init.normal_(self.emb.weight, std=self.E**-0.5)
        self.drop = nn.Dropout(cfg.dropout)

    def embed(self, ids):
        # sqrt(E) * emb: unit-scale inputs while the tied output logits stay small (Vaswani et al., 3.4)
        return self.drop(self.emb(ids) * math.sqrt(self.E))

    def logits(self, out):
        return out @ self.emb.weight.t()  # tied output layer: (..., E) x (E, V) -> (..., V)

    def src_mask(self, src):
        return src != self.config.pad_id  # (B, S), True at real tokens

    def encode_gru(self, rnn: nn.GRU, src):
        """Run a GRU over the padded source, skipping the padding (so the backward direction starts at
        each sentence's last real token); returns the outputs (B, S, dirs*H) and h_n (layers*dirs, B, H)."""
        lengths = self.src_mask(src).sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.embed(src), lengths, batch_first=True, enforce_sorted=False)
        out, h_n = rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
        return out, h_n


class FixedContextSeq2Seq(Seq2SeqBase):
    """Cho et al. 2014: c = the encoder's last state; s_0 = tanh(W_init c); s_i = GRU([E y_{i-1}; c], s_{i-1});
    p(y_i) = softmax(E^T tanh(W_o [s_i; c]))."""

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__(cfg)
        E, H = self.E, self.H
        self.encoder = nn.GRU(
            E, H, num_layers=cfg.n_layer, batch_first=True, dropout=cfg.dropout if cfg.n_layer > 1 else 0.0
        )
        self.init_state = nn.Linear(H, H)
        self.decoder = nn.GRU(E + H, H, batch_first=True)
        self.out = nn.Linear(2 * H, E)

    def encode(self, src) -> dict:
        _, h_n = self.encode_gru(self.encoder, src)
        c = h_n[-1]  # (B, H): the top layer's state after the last real source token
        return {"c": c, "s": torch.tanh(self.init_state(c))}

    def decode(self, state, tgt_in):
        T = tgt_in.size(1)
        c = state["c"][:, None, :].expand(-1, T, -1)  # (B, T, H): the same context at every step
        s, s_last = self.decoder(torch.cat([self.embed(tgt_in), c], dim=-1), state["s"][None])
        return self.logits(torch.tanh(self.out(self.drop(torch.cat([s, c], dim=-1))))), s_last[0]

    def forward(self, src, tgt_in):
        return self.decode(self.encode(src), tgt_in)[0]

    def step(self, state, y_prev):
        logits, s = self.decode(state, y_prev[:, None])
        return logits[:, 0], None, {**state, "s": s}


class AdditiveAttention(nn.Module):
    """Bahdanau et al. 2015, eq. 6 and app. A.1.2: e_ij = v^T tanh(W s_{i-1} + U h_j), alpha_i = softmax_j(e_ij)."""

    def __init__(self, query_size: int, key_size: int, attn_size: int):
        super().__init__()
        self.W = nn.Linear(query_size, attn_size, bias=False)
        self.U = nn.Linear(key_size, attn_size)
        self.v = nn.Linear(attn_size, 1, bias=False)

    def forward(self, s_prev, Uh, h, mask):
        """s_prev (B, H); Uh = U(h) (B, S, A), precomputed once per sentence; h (B, S, 2H); mask (B, S).
        Returns the context c_i (B, 2H) and the weights alpha_i (B, S), zero at padding."""
        e = self.v(torch.tanh(self.W(s_prev)[:, None, :] + Uh)).squeeze(-1)  # (B, S)
        alpha = F.softmax(e.float().masked_fill(~mask, float("-inf")), dim=-1).to(h.dtype)
        c = torch.bmm(alpha[:, None, :], h).squeeze(1)  # (B, 1, S) x (B, S, 2H) -> (B, 2H)
        return c, alpha


class AttentionSeq2Seq(Seq2SeqBase):
    """Bahdanau et al. 2015 ("RNNsearch"): bidirectional GRU encoder, GRU decoder with additive attention.
    s_0 = tanh(W_init h_1<-); c_i = attend(s_{i-1}, h); s_i = GRU([E y_{i-1}; c_i], s_{i-1});
    p(y_i) = softmax(E^T tanh(W_o [s_i; c_i; E y_{i-1}])) (a tanh layer in place of the paper's maxout)."""

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__(cfg)
        E, H = self.E, self.H
        self.encoder = nn.GRU(
            E,
            H,
            num_layers=cfg.n_layer,
            batch_first=True,
            bidirectional=True,
            dropout=cfg.dropout if cfg.n_layer > 1 else 0.0,
        )
        self.init_state = nn.Linear(H, H)
        self.attention = AdditiveAttention(H, 2 * H, H)
        self.cell = nn.GRUCell(E + 2 * H, H)
        self.out = nn.Linear(H + 2 * H + E, E)

    def encode(self, src) -> dict:
        h, h_n = self.encode_gru(self.encoder, src)  # h (B, S, 2H): [forward; backward] annotations
        return {
            "h": h,
            "Uh": self.attention.U(h),
            "mask": self.src_mask(src),
            "s": torch.tanh(self.init_state(h_n[-1])),
        }

    def readout(self, s, c, y):
        """p(y_i) from s_i, c_i and E y_{i-1}; any leading shape ((B,) or (B, T))."""
        return self.logits(torch.tanh(self.out(self.drop(torch.cat([s, c, y], dim=-1)))))

    def step(self, state, y_prev):
        y = self.embed(y_prev)  # (B, E)
        c, alpha = self.attention(state["s"], state["Uh"], state["h"], state["mask"])
        s = self.cell(torch.cat([y, c], dim=-1), state["s"])
        return self.readout(s, c, y), alpha, {**state, "s": s}

    def forward(self, src, tgt_in, return_attention: bool = False):
        state = self.encode(src)
        y = self.embed(tgt_in)  # (B, T, E)
        s, states, contexts, alphas = state["s"], [], [], []
        for i in range(tgt_in.size(1)):  # the attention needs s_{i-1}, so the recurrence runs step by step
            c, alpha = self.attention(s, state["Uh"], state["h"], state["mask"])
            s = self.cell(torch.cat([y[:, i], c], dim=-1), s)
            states.append(s)
            contexts.append(c)
            alphas.append(alpha)
        logits = self.readout(
            torch.stack(states, 1), torch.stack(contexts, 1), y
        )  # (B, T, V), one matmul for all steps
        return (logits, torch.stack(alphas, 1)) if return_attention else logits


class TransformerSeq2Seq(Seq2SeqBase):
    """Vaswani et al. 2017, pre-norm (Xiong et al. 2020), sinusoidal positions, torch.nn layers."""

    max_positions = 1024

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__(cfg)
        E = self.E
        if E % cfg.n_head:
            raise LmlabError(f"n_embd {E} must be divisible by n_head {cfg.n_head}")
        enc = nn.TransformerEncoderLayer(E, cfg.n_head, 4 * E, cfg.dropout, batch_first=True, norm_first=True)
        dec = nn.TransformerDecoderLayer(E, cfg.n_head, 4 * E, cfg.dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(enc, cfg.n_layer, norm=nn.LayerNorm(E), enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec, cfg.n_layer, norm=nn.LayerNorm(E))
        self.register_buffer("pe", sinusoidal_table(self.max_positions, E), persistent=False)

    def embed_positions(self, ids):
        if ids.size(1) > self.max_positions:
            raise LmlabError(
                f"a sequence of {ids.size(1)} tokens is longer than the transformer's {self.max_positions} positions"
            )
        return self.drop(self.emb(ids) * math.sqrt(self.E) + self.pe[: ids.size(1)])

    def encode(self, src) -> dict:
        mask = self.src_mask(src)
        memory = self.encoder(self.embed_positions(src), src_key_padding_mask=~mask)
        return {"memory": memory, "mask": mask, "ys": src.new_zeros(src.size(0), 0)}

    def decode(self, state, tgt_in, last_only: bool = False):
        """Logits (B, T, V) of every target position, or (B, 1, V) of the last one only (decoding a step)."""
        T = tgt_in.size(1)
        causal = nn.Transformer.generate_square_subsequent_mask(T, device=tgt_in.device)
        x = self.decoder(
            self.embed_positions(tgt_in),
            state["memory"],
            tgt_mask=causal,
            tgt_is_causal=True,
            memory_key_padding_mask=~state["mask"],
        )
        return self.logits(x[:, -1:] if last_only else x)

    def forward(self, src, tgt_in):
        return self.decode(self.encode(src), tgt_in)

    def step(self, state, y_prev):
        # No decoder cache: each step reruns the target prefix (short sentences; clarity first).
        ys = torch.cat([state["ys"], y_prev[:, None]], dim=1)
        return self.decode(state, ys, last_only=True)[:, -1], None, {**state, "ys": ys}
