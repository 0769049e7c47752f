"""Run folders and checkpoints, and the one loader of a trained model from any stage.

    RUN/config.yaml           the run record: the format version, the stage that made it, what the
                              model is (model_kind), its architecture (model), the stage's config
                              sections, and for a causal LM its pre-training corpus (corpus: where
                              bits per byte are measured)
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
from typing import NamedTuple

import torch
import yaml
from safetensors.torch import load_model, save_model

from lmlab.config import load_yaml, section_from_dict
from lmlab.errors import LmlabError
from lmlab.tokenizer import Tokenizer

FORMAT_VERSION = 2
# What a run's model is, and so what can use it: sample, chat, eval and serving take any causal LM.
MODEL_KINDS = {"causal-lm": "a causal language model", "seq2seq": "an encoder-decoder translator"}


def atomic_write(path: Path, write):
    """Call write(tmp_path), then rename tmp_path to path."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # ---- creating and opening -------------------------------------------------------------
    def create(self, record: dict, stage: str, model_kind: str, tokenizer: Tokenizer):
        """Write the tokenizer and the run record: the stage's config sections, the model's architecture, extras."""
        assert model_kind in MODEL_KINDS, model_kind
        self.path.mkdir(parents=True, exist_ok=True)
        tokenizer.save(self.path / "tokenizer.json")
        header = {"lmlab_format": FORMAT_VERSION, "stage": stage, "model_kind": model_kind}
        record = {**header, "tokenizer_sha256": tokenizer.sha256(), **record}
        atomic_write(self.path / "config.yaml", lambda p: p.write_text(yaml.safe_dump(record, sort_keys=False)))

    def read_config(self) -> dict:
        f = self.path / "config.yaml"
        if not self.path.is_dir():
            raise LmlabError(f"{self.path}: no such run folder")
        if not f.is_file():
            raise LmlabError(f"{self.path}: not an lmlab run folder (no config.yaml)")
        record = load_yaml(f)
        version = record.get("lmlab_format")
        if version == 1:
            return upgrade_v1(record)
        if version != FORMAT_VERSION:
            raise LmlabError(
                f"{self.path}: run folder format {version!r} is not supported by this lmlab (expected {FORMAT_VERSION})"
            )
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
            raise LmlabError(
                f"{f}: weights do not fit the model in config.yaml (missing {missing[:3]}, unexpected {unexpected[:3]})"
            )

    def load_training_state(self, optimizer) -> dict:
        ckpt = self.latest()
        if ckpt is None:
            raise LmlabError(f"{self.path}: no checkpoint to resume from")
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
        return torch.load(ckpt / "trainer.pt", weights_only=True)


def upgrade_v1(record: dict) -> dict:
    """A format-1 record (lmlab before stage configs) in today's layout: translation kept its sections
    under other names, and carry_state moved from train to data."""
    record = {**record, "lmlab_format": FORMAT_VERSION}
    if record.get("stage") == "translate":
        record["model_kind"] = "seq2seq"
        record["model"], record["data"] = record.pop("seq2seq", {}), record.pop("translate", {})
    else:
        record["model_kind"] = "causal-lm"
        record["corpus"] = {k: record["data"][k] for k in ("data", "val_fraction", "cache_dir") if k in record["data"]}
        if "carry_state" in record.get("train", {}):
            record["train"] = {k: v for k, v in record["train"].items() if k != "carry_state"}
            record["data"] = {**record.get("data", {}), "carry_state": record["train"].get("carry_state", False)}
        if record.get("stage") == "sft":
            record["sft"] = {k: v for k, v in record["sft"].items() if k in ("init", "data")}
    return record


class LoadedRun(NamedTuple):
    model: torch.nn.Module  # in eval mode, on the device asked for
    tokenizer: Tokenizer
    record: dict  # config.yaml


def model_from_record(record: dict, where: str) -> torch.nn.Module:
    """An untrained model of the architecture and kind the run record names."""
    kind = record.get("model_kind")
    if kind == "causal-lm":
        from lmlab.models import build_model
        from lmlab.models.config import ModelConfig

        return build_model(section_from_dict(ModelConfig, record.get("model", {}), where))
    if kind == "seq2seq":
        from lmlab.models.seq2seq import Seq2SeqConfig, build_seq2seq

        return build_seq2seq(section_from_dict(Seq2SeqConfig, record.get("model", {}), where))
    raise LmlabError(f"{where}: unknown model_kind {kind!r} (expected one of {', '.join(MODEL_KINDS)})")


def load_run(path: str | Path, device: torch.device | str = "cpu", kind: str = "causal-lm") -> LoadedRun:
    """The model of any run, from any stage, ready for inference; `kind` is what the caller can use.

    The run record says what the model is; a caller asks for a kind of model, never for a stage.
    """
    run = RunFolder(path)
    record = run.read_config()
    if record.get("model_kind") != kind:
        raise LmlabError(
            f"{run.path}: holds {MODEL_KINDS.get(record.get('model_kind'), record.get('model_kind'))} "
            f"(a {record.get('stage')} run); this needs {MODEL_KINDS[kind]}"
        )
    tokenizer = run.tokenizer()
    model = model_from_record(record, str(run.path / "config.yaml"))
    if model.config.vocab_size != tokenizer.vocab_size:
        raise LmlabError(
            f"{run.path / 'tokenizer.json'} has {tokenizer.vocab_size} tokens "
            f"but the model expects {model.config.vocab_size}"
        )
    run.load_weights(model)
    return LoadedRun(model.to(device).eval(), tokenizer, record)
