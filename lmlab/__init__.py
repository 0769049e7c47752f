"""lmlab: build a language model the way modern LLMs are built, end to end.

The library is the CLI's code path: `lmlab.pretrain(config)` is what `lmlab pretrain` runs.
"""

__version__ = "0.1.0"


def pretrain(config=None, out=None, resume=None, overrides=None):
    """Pre-train a language model (default: the cpu-small preset); see lmlab.stages.pretrain."""
    from lmlab.stages.pretrain import PretrainConfig
    from lmlab.stages.pretrain import pretrain as _pretrain

    return _pretrain(config or PretrainConfig.build("cpu-small"), out=out, resume=resume, overrides=overrides)


def sft(config=None, init=None, data=None, out=None, resume=None, overrides=None):
    """Fine-tune a pre-trained run on chat data (default: the built-in task mixture); see lmlab.stages.sft."""
    from lmlab.stages.sft import sft as _sft

    return _sft(config, init=init, data=data, out=out, resume=resume, overrides=overrides)
