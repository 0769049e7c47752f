"""What every stage does around its recipe: open or create the run folder, pick the device,
build the model and hand batches and a loss to the Trainer."""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
import torch.distributed as dist

from lmlab.runs import RunFolder
from lmlab.config import RunConfig, build_config
from lmlab.device import Distributed, init_distributed
from lmlab.errors import LmlabError
from lmlab.models import build_model


def default_out(stage: str) -> Path:
    return Path("runs") / f"{stage}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


@dataclass
class StageSetup:
    config: RunConfig
    run: RunFolder
    device: torch.device
    dist: Distributed
    resuming: bool


def setup_stage(stage: str, config: RunConfig, out: str | Path | None, resume: str | Path | None, overrides: dict | None = None) -> StageSetup:
    """Resolve the run folder: a new one (which must not hold a run already) or the one to resume.

    On resume the saved config is the base and only explicitly given overrides change it.
    """
    dist_info, device = init_distributed(config.train.device)
    if resume:
        run = RunFolder(resume)
        record = run.read_config()
        if record.get("stage") != stage:
            raise LmlabError(f"{run.path}: is a {record.get('stage')} run, not a {stage} run")
        if run.latest() is None:
            raise LmlabError(f"{run.path}: no checkpoint to resume from")
        saved = {k: record[k] for k in ("model", "train", "data") if k in record}
        config = build_config(base=saved, overrides=overrides)
        return StageSetup(config, run, device, dist_info, True)
    run = RunFolder(out or default_out(stage))
    if (run.path / "config.yaml").exists():
        raise LmlabError(f"{run.path}: already holds a run; use --resume {run.path} or another --out")
    return StageSetup(config, run, device, dist_info, False)


def barrier(dist_info: Distributed):
    if dist_info.world_size > 1:
        dist.barrier()


def main_process_first(dist_info: Distributed, fn):
    """Run fn on rank 0 first (it may write caches), then on the others."""
    if dist_info.is_main:
        result = fn()
        barrier(dist_info)
    else:
        barrier(dist_info)
        result = fn()
    return result


def new_model(config: RunConfig, vocab_size: int, seed: int) -> torch.nn.Module:
    config.model.vocab_size = vocab_size
    torch.manual_seed(seed)
    return build_model(config.model)
