"""Run folders and checkpoints.

    RUN/config.yaml           the resolved config, the stage, and the checkpoint format version
    RUN/tokenizer.json        the tokenizer (tokenizers / transformers can load it)
    RUN/model.safetensors     the latest weights, for users and other tools
    RUN/metrics.jsonl         one JSON line per logged step
    RUN/ckpt/LATEST           the name of the last complete checkpoint
    RUN/ckpt/step-NNNNNNN/    model.safetensors, optimizer.pt (optimizer state) and trainer.pt
                              (step, RNG states)

Every write goes to a temporary name and is renamed into place; LATEST moves only after a
checkpoint folder is complete, so a run killed at any moment leaves its last checkpoint loadable.
Optimizer and trainer state are plain tensors and dicts, loaded with weights_only=True.
"""

import os
import shutil
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_model, save_model

from lmlab.config import build_config, load_yaml
from lmlab.errors import LmlabError
from lmlab.tokenizer import Tokenizer

FORMAT_VERSION = 1


def atomic_write(path: Path, write):
    """Call write(tmp_path), then rename tmp_path to path."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # ---- creating and opening -------------------------------------------------------------
    def create(self, config: dict, stage: str, tokenizer: Tokenizer, extra: dict | None = None):
        self.path.mkdir(parents=True, exist_ok=True)
        tokenizer.save(self.path / "tokenizer.json")
        self.write_config(config, stage, tokenizer, extra)

    def write_config(self, config: dict, stage: str, tokenizer: Tokenizer, extra: dict | None = None):
        record = {"lmlab_format": FORMAT_VERSION, "stage": stage, "tokenizer_sha256": tokenizer.sha256(), **(extra or {}), **config}
        atomic_write(self.path / "config.yaml", lambda p: p.write_text(yaml.safe_dump(record, sort_keys=False)))

    def read_config(self) -> dict:
        f = self.path / "config.yaml"
        if not self.path.is_dir():
            raise LmlabError(f"{self.path}: no such run folder")
        if not f.is_file():
            raise LmlabError(f"{self.path}: not an lmlab run folder (no config.yaml)")
        record = load_yaml(f)
        version = record.get("lmlab_format")
        if version != FORMAT_VERSION:
            raise LmlabError(f"{self.path}: run folder format {version!r} is not supported by this lmlab (expected {FORMAT_VERSION})")
        return record

    def tokenizer(self) -> Tokenizer:
        record = self.read_config()
        tokenizer = Tokenizer.load(self.path / "tokenizer.json")
        if tokenizer.sha256() != record.get("tokenizer_sha256"):
            raise LmlabError(
                f"{self.path / 'tokenizer.json'} does not match the checkpoint: the model was trained with "
                f"tokenizer {str(record.get('tokenizer_sha256'))[:12]}, the file is {tokenizer.sha256()[:12]}"
            )
        return tokenizer

    # ---- checkpoints ----------------------------------------------------------------------
    @property
    def ckpt_dir(self) -> Path:
        return self.path / "ckpt"

    def latest(self) -> Path | None:
        pointer = self.ckpt_dir / "LATEST"
        if not pointer.is_file():
            return None
        return self.ckpt_dir / pointer.read_text().strip()

    def save_checkpoint(self, step: int, model: torch.nn.Module, optimizer, trainer_state: dict):
        name = f"step-{step:07d}"
        final = self.ckpt_dir / name
        tmp = self.ckpt_dir / f".{name}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_model(model, str(tmp / "model.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(trainer_state, tmp / "trainer.pt")
        previous = self.latest()
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        atomic_write(self.ckpt_dir / "LATEST", lambda p: p.write_text(name))
        atomic_write(self.path / "model.safetensors", lambda p: shutil.copyfile(final / "model.safetensors", p))
        if previous is not None and previous != final:
            shutil.rmtree(previous, ignore_errors=True)

    def load_weights(self, model: torch.nn.Module):
        """The latest checkpoint's weights (or RUN/model.safetensors for an exported run)."""
        ckpt = self.latest()
        f = ckpt / "model.safetensors" if ckpt is not None else self.path / "model.safetensors"
        if not f.is_file():
            raise LmlabError(f"{self.path}: the run has no saved weights yet")
        missing, unexpected = load_model(model, str(f), strict=False)
        if missing or unexpected:
            raise LmlabError(f"{f}: weights do not fit the model in config.yaml (missing {missing[:3]}, unexpected {unexpected[:3]})")

    def load_training_state(self, optimizer) -> dict:
        ckpt = self.latest()
        if ckpt is None:
            raise LmlabError(f"{self.path}: no checkpoint to resume from")
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
        return torch.load(ckpt / "trainer.pt", weights_only=True)


def load_run(path: str | Path, device: torch.device | str = "cpu", stages: tuple[str, ...] | None = None):
    """A trained run ready for inference: (model in eval mode, tokenizer, config record)."""
    from lmlab.models import build_model

    run = RunFolder(path)
    record = run.read_config()
    if stages is not None and record.get("stage") not in stages:
        raise LmlabError(f"{run.path}: is a {record.get('stage')} run; expected a {' or '.join(stages)} run")
    tokenizer = run.tokenizer()
    config = build_config(base={k: record[k] for k in ("model", "train", "data") if k in record})
    if config.model.vocab_size != tokenizer.vocab_size:
        raise LmlabError(f"{run.path / 'tokenizer.json'} has {tokenizer.vocab_size} tokens but the model expects {config.model.vocab_size}")
    model = build_model(config.model)
    run.load_weights(model)
    return model.to(device).eval(), tokenizer, record
