"""Language models: the GPT decoder and (issue 3) the recurrent baselines, built from one config."""

import torch.nn as nn

from lmlab.models.config import ModelConfig


def build_model(cfg: ModelConfig) -> nn.Module:
    from lmlab.models.moe import check_moe

    check_moe(cfg)
    if cfg.arch == "gpt":
        from lmlab.models.gpt import GPT

        return GPT(cfg)
    from lmlab.models.rnn import RecurrentLM

    return RecurrentLM(cfg)
