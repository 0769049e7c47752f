"""lmlab: build a language model the way modern LLMs are built, end to end.

The library is the CLI's code path: `lmlab.pretrain(config)` is what `lmlab pretrain` runs.
"""

import os

__version__ = "0.1.0"

# oneDNN (PyTorch's CPU kernels) keeps a compiled kernel for each input shape it has met, up to 1,024 by default.
# Sampling with the KV cache meets a new shape at every length, so GRPO's rollouts filled that cache to 2.0 GB peak
# resident memory on the cpu-small model; 64 kernels hold it to 1.4 GB, for ~18% more time in GRPO (kernels compiled
# again), which keeps `lmlab run` under 3 GB (`python bench/memory.py --command "grpo --init RUN/sft ..."
# --onednn-cache 1024 64` measures it; docs/figures.md has the figures).
# Set before torch is imported, and only where the user has not chosen.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64")


def pretrain(config=None, out=None, resume=None, overrides=None):
    """Pre-train a language model (default: the cpu-small preset); see lmlab.stages.pretrain."""
    from lmlab.stages.pretrain import PretrainConfig
    from lmlab.stages.pretrain import pretrain as _pretrain

    return _pretrain(config or PretrainConfig.build("cpu-small"), out=out, resume=resume, overrides=overrides)


def sft(config=None, init=None, data=None, out=None, resume=None, overrides=None):
    """Fine-tune a pre-trained run on chat data (default: the built-in task mixture); see lmlab.stages.sft."""
    from lmlab.stages.sft import sft as _sft

    return _sft(config, init=init, data=data, out=out, resume=resume, overrides=overrides)
