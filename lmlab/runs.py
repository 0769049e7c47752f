"""Run folders and checkpoints, and the one loader of a trained model from any stage.

    RUN/config.yaml           the run record: the format version, the stage that made it, what the
                              model is (model_kind), its architecture (model), the stage's config
                              sections, and for a causal LM its pre-training corpus (corpus: where
                              bits per byte are measured)
    RUN/tokenizer.json        the tokenizer (tokenizers / transformers can load it)
    RUN/model.safetensors     the latest weights, for users and other tools
    RUN/adapter_model.safetensors, RUN/adapter_config.json
                              instead, in a LoRA run (lmlab.models.lora): only the adapters, in PEFT's format;
                              the record's "adapter" entry names the base run and the sha256 of its weights
    RUN/metrics.jsonl         one JSON line per logged step
    RUN/ckpt/LATEST           the name of the last complete checkpoint
    RUN/ckpt/step-NNNNNNN/    model.safetensors (or the adapter files), optimizer.pt (optimizer state) and
                              trainer.pt (step, RNG states); the latest keep_checkpoints of them are kept
    RUN/.lock                 held (flock) by the one process that trains in the folder

Every write goes to a temporary name and is renamed into place; LATEST moves only after a
checkpoint folder is complete, so a run killed at any moment leaves its last checkpoint loadable.
Temporary names left by killed saves are removed at the next save or resume.
Optimizer and trainer state are plain tensors and dicts, loaded with weights_only=True.

A run folder is data, not code, but it is not path-free: LATEST names a folder that lmlab reads
and later deletes, so only names of lmlab's own pattern (step-NNNNNNN) inside RUN/ckpt are
accepted, and only such folders are ever deleted. A LoRA run's record names its base run, which lmlab reads
(never writes) to rebuild the model; a base whose weights changed since is refused (their sha256).
"""

import fcntl
import hashlib
import os
import re
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

import torch
import yaml
from safetensors import safe_open
from safetensors.torch import save_model

from lmlab import sharding
from lmlab.config import load_yaml, section_from_dict
from lmlab.device import barrier
from lmlab.errors import LmlabError
from lmlab.models import lora
from lmlab.tokenizer import Tokenizer

FORMAT_VERSION = 2
CHECKPOINT_NAME = re.compile(r"step-\d{7,}")  # the only names LATEST may hold and lmlab may delete
TEMPORARY_NAME = re.compile(r"\..+\.tmp\d+")  # atomic_write's and save_checkpoint's partial files
# What a run's model is, and so what can use it: sample, chat, eval and serving take any causal LM.
MODEL_KINDS = {
    "causal-lm": "a causal language model",
    "seq2seq": "an encoder-decoder translator",
    "reward-model": "a reward model (a scalar score of a prompt and response)",
}


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

    def update_record(self, entries: dict):
        """Add entries to the run record (e.g. what a stage measured after training), atomically."""
        record = {**load_yaml(self.path / "config.yaml"), **entries}
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

    # ---- the lock -----------------------------------------------------------------------
    def lock(self) -> "RunLock":
        """Take the folder's exclusive lock (creating the folder); a second process gets one line naming the holder."""
        return RunLock(self.path)

    # ---- checkpoints ----------------------------------------------------------------------
    @property
    def ckpt_dir(self) -> Path:
        if (self.path / "ckpt").is_symlink():
            raise LmlabError(f"{self.path / 'ckpt'}: is a symbolic link; a run's ckpt folder must be its own")
        return self.path / "ckpt"

    def latest(self) -> Path | None:
        """The checkpoint LATEST names, if it names one of this run's own (else a one-line error)."""
        pointer = self.ckpt_dir / "LATEST"
        if not pointer.is_file():
            return None
        name = pointer.read_bytes()[:64].decode("utf-8", errors="replace").strip()
        if not CHECKPOINT_NAME.fullmatch(name):
            raise LmlabError(f"{pointer}: names {name!r}, not a checkpoint of this run (expected step-NNNNNNN)")
        return self.ckpt_dir / name

    def checkpoints(self) -> list[Path]:
        """This run's checkpoint folders, oldest first (real folders of lmlab's name pattern only)."""
        if not self.ckpt_dir.is_dir():
            return []
        found = [p for p in self.ckpt_dir.iterdir() if CHECKPOINT_NAME.fullmatch(p.name) and _real_dir(p)]
        return sorted(found, key=lambda p: int(p.name.split("-")[1]))

    def save_checkpoint(
        self, step: int, model: torch.nn.Module, optimizer, trainer_state: dict, keep: int = 1, dist_info=None
    ):
        """Write checkpoint `step`, publish it in LATEST and RUN/model.safetensors, keep the latest `keep`.

        With dist_info (--parallel fsdp) every process calls this and writes its shards (lmlab.sharding); rank 0
        publishes."""
        name = f"step-{step:07d}"
        final = self.ckpt_dir / name
        main = dist_info is None or dist_info.is_main
        tmp = self.ckpt_dir / f".{name}.tmp{_shared_pid(dist_info)}"
        if main:
            self.clean_temporary()
            tmp.mkdir(parents=True)
        published = (lora.ADAPTER_FILE, lora.ADAPTER_CONFIG) if lora.has_adapters(model) else ("model.safetensors",)
        if dist_info is not None:
            barrier(dist_info)  # the folder exists for every process
            sharding.save(tmp, model, optimizer, main)
        elif lora.has_adapters(model):  # only what trained: the base is another run's
            lora.save_adapter(model, tmp, {**model.adapter_config, "base_model_name_or_path": self.base_path()})
        else:
            save_model(model, str(tmp / "model.safetensors"))
        if not main:
            barrier(dist_info)  # rank 0 publishes
            return
        if dist_info is None:
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(trainer_state, tmp / "trainer.pt")
        if _real_dir(final):
            shutil.rmtree(final)
        elif final.is_symlink() or final.exists():
            final.unlink()
        os.replace(tmp, final)
        atomic_write(self.ckpt_dir / "LATEST", lambda p: p.write_text(name))
        for f in published:
            atomic_write(self.path / f, lambda p: shutil.copyfile(final / f, p))
        for old in self.checkpoints()[: -max(keep, 1)]:
            shutil.rmtree(old, ignore_errors=True)
        if dist_info is not None:
            barrier(dist_info)

    def clean_temporary(self):
        """Remove what killed saves left: temporary files and folders (.NAME.tmpPID) in RUN and RUN/ckpt.

        Only the process holding the run's lock saves, so any temporary name is stale.
        """
        for folder in (self.path, self.ckpt_dir):
            if not folder.is_dir():
                continue
            for p in folder.iterdir():
                if not TEMPORARY_NAME.fullmatch(p.name):
                    continue
                if _real_dir(p):
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)

    def weights_file(self) -> Path:
        """The latest checkpoint's weights, or RUN/model.safetensors (an exported run, or a missing checkpoint); the
        adapter file in a LoRA run."""
        name = lora.ADAPTER_FILE if self.adapter() else "model.safetensors"
        ckpt = self.latest()
        if ckpt is not None and (ckpt / name).is_file():
            return ckpt / name
        top = self.path / name
        if ckpt is not None and top.is_file():
            print(f"lmlab: warning: {ckpt} is missing; using {top}", file=sys.stderr)
        return top

    def load_weights(self, model: torch.nn.Module, f: Path | None = None, ignore: tuple[str, ...] = ()):
        """Load the weights file (default: weights_file()) into the model; one line if it is missing or damaged.

        Tensors whose names start with a prefix in `ignore` may be missing from the model or from the file: the
        parts a stage trains beside the model it publishes (PPO's critic), or the parts it adds to a loaded one.
        A LoRA run's weights are its base's with its adapter merged in; a model with live adapters (a LoRA run
        resuming) takes an adapter file into them.
        """
        if lora.has_adapters(model):
            f = f or self.weights_file()
            lora.load_adapter_state(model, lora.read_adapter(f.parent)[0], str(f))
            return
        adapter = self.adapter() if f is None else None
        if adapter:
            base = self.base_run()
            target = model.get_submodule(adapter["base_module"]) if adapter.get("base_module") else model
            base.load_weights(target, ignore=ignore)
            f = self.weights_file()
            tensors, config = lora.read_adapter(f.parent)
            lora.merge_into(model, tensors, config, str(f), ignore)
            return
        f = f or self.weights_file()
        if not f.is_file():
            raise LmlabError(f"{self.path}: the run has no saved weights yet")
        try:
            missing, unexpected = stream_weights(model, f)
        except Exception as e:  # safetensors' errors on a truncated or garbage file name no file
            raise LmlabError(f"{f}: not a readable safetensors file ({str(e).splitlines()[0][:120]})") from None
        missing = [k for k in missing if not k.startswith(ignore)] if ignore else missing
        unexpected = [k for k in unexpected if not k.startswith(ignore)] if ignore else unexpected
        if missing or unexpected:
            raise LmlabError(
                f"{f}: weights do not fit the model in config.yaml (missing {missing[:3]}, unexpected {unexpected[:3]})"
            )

    def load_training_state(self, model: torch.nn.Module, optimizer) -> dict:
        """Weights, optimizer state and trainer state of the latest checkpoint, each checked."""
        ckpt = self.latest()
        if ckpt is None:
            raise LmlabError(f"{self.path}: no checkpoint to resume from")
        if not _real_dir(ckpt):
            raise LmlabError(f"{self.ckpt_dir / 'LATEST'}: names {ckpt.name}, which is missing from {self.ckpt_dir}")
        names = ("optimizer.pt", "trainer.pt")
        if sharding.is_sharded_checkpoint(ckpt):  # every process reads its part, whatever the number that saved it
            if lora.has_adapters(model) or not hasattr(optimizer, "state"):
                raise LmlabError(f"{ckpt}: a sharded checkpoint (--parallel fsdp) resumes an AdamW run without LoRA")
            sharding.load(ckpt, model, optimizer)
            names = ("trainer.pt",)
        elif sharding.is_sharded(model):
            raise LmlabError(
                f"{ckpt}: written by --parallel ddp, whose optimizer state is one file; resume it with --parallel ddp"
            )
        else:
            self.load_weights(model, ckpt / (lora.ADAPTER_FILE if lora.has_adapters(model) else "model.safetensors"))
        state = {}
        for name in names:
            f = ckpt / name
            if not f.is_file():
                raise LmlabError(f"{f}: missing; the checkpoint is incomplete")
            try:
                state[name] = torch.load(f, weights_only=True)
            except Exception as e:  # a truncated or foreign file: say which, not where torch failed
                raise LmlabError(f"{f}: not a readable checkpoint file ({str(e).splitlines()[0][:120]})") from None
        try:
            if "optimizer.pt" in state:
                optimizer.load_state_dict(state["optimizer.pt"])
        except (ValueError, KeyError, TypeError) as e:
            raise LmlabError(f"{ckpt / 'optimizer.pt'}: does not fit this model's optimizer ({e})") from None
        if not isinstance(state["trainer.pt"], dict) or "step" not in state["trainer.pt"]:
            raise LmlabError(f"{ckpt / 'trainer.pt'}: not a trainer state (expected a dict with a step)")
        return state["trainer.pt"]

    # ---- LoRA runs: an adapter over a base run ----------------------------------------------------------
    def adapter(self) -> dict | None:
        """The record's "adapter" entry (base, base_sha256, base_module) of a LoRA run, else None."""
        if not (self.path / "config.yaml").is_file():
            return None
        return self.read_config().get("adapter")

    def base_path(self) -> str | None:
        adapter = self.adapter()
        return adapter["base"] if adapter else None

    def base_run(self) -> "RunFolder":
        """The base run of this LoRA run, checked: present, same tokenizer and shape, and unchanged since."""
        record, adapter = self.read_config(), self.adapter()
        base = RunFolder(adapter["base"])
        if not (base.path / "config.yaml").is_file():
            raise LmlabError(
                f"{self.path}: its base run {base.path} is missing; a LoRA run needs its base (lmlab merge writes one "
                "that does not)"
            )
        check_adapter_base(base, record, str(self.path))
        digest = base.weights_sha256()
        if digest != adapter["base_sha256"]:
            raise LmlabError(
                f"{self.path}: its base run {base.path} changed since the adapter was trained (weights sha256 "
                f"{digest[:12]}, trained on {adapter['base_sha256'][:12]})"
            )
        return base

    def weights_sha256(self) -> str:
        """sha256 of the weights this run loads: its weights file, and for a LoRA run its base's too."""
        f = self.weights_file()
        if not f.is_file():
            raise LmlabError(f"{self.path}: the run has no saved weights yet")
        adapter = self.adapter()
        if adapter:
            return hashlib.sha256(f"{adapter['base_sha256']} {file_digest(f)}".encode()).hexdigest()
        return file_digest(f)


@torch.no_grad()
def stream_weights(model: torch.nn.Module, f: Path) -> tuple[list[str], list[str]]:
    """Copy a safetensors file into the model's tensors one at a time, so that loading holds one tensor beside the
    model, not a second copy of it (safetensors' load_model reads the whole file into a dict first); returns
    (missing, unexpected) names. A tensor tied to a loaded one (the head to the embedding) counts as loaded."""
    state = model.state_dict()
    loaded = set()
    unexpected = []
    with safe_open(str(f), framework="pt") as file:
        names = list(file.keys())
        for name in names:
            if name not in state:
                unexpected.append(name)
                continue
            t = file.get_tensor(name)
            if t.shape != state[name].shape:
                raise LmlabError(f"{f}: {name} is {tuple(t.shape)}, the model's is {tuple(state[name].shape)}")
            state[name].copy_(t)
            loaded.add(state[name].data_ptr())
    missing = [k for k in state if k not in names and state[k].data_ptr() not in loaded]
    return missing, unexpected


def _shared_pid(dist_info) -> int:
    """Rank 0's process id, known to every process: the temporary folder they all write a checkpoint into."""
    pid = os.getpid()
    if dist_info is None or dist_info.world_size == 1:
        return pid
    cuda = torch.distributed.get_backend() == "nccl"
    t = torch.tensor([pid], dtype=torch.int64, device=f"cuda:{torch.cuda.current_device()}" if cuda else "cpu")
    torch.distributed.broadcast(t, src=0)
    return int(t.item())


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def check_adapter_base(base: RunFolder, record: dict, where: str, module: str = ""):
    """An adapter's base has the tokenizer and the shape of the run the adapter was trained in (one line if not)."""
    base_record = base.read_config()
    if base_record.get("tokenizer_sha256") != record.get("tokenizer_sha256"):
        raise LmlabError(f"{where}: the base run {base.path} has another tokenizer than the adapter was trained with")
    shape = ("arch", "n_layer", "n_head", "n_kv_head", "n_embd", "vocab_size", "mlp", "mlp_hidden", "bias")
    mine, theirs = record.get("model", {}), base_record.get("model", {})
    differ = [k for k in shape if mine.get(k) != theirs.get(k)]
    if differ:
        k = differ[0]
        raise LmlabError(
            f"{where}: the base run {base.path} is another shape ({k} {theirs.get(k)}, the adapter's {mine.get(k)})"
        )


class RunLock:
    """An exclusive flock on RUN/.lock for a run's whole life; the holder's pid is written in the file.

    The lock file of a run is never deleted (that would let a third process lock a new file while
    the second still holds the old one); only a lock taken for a run that never started is discarded.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.created_folder = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        self.created_file = not (self.path / ".lock").exists()
        self.file = open(self.path / ".lock", "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "unknown"
            self.file.close()
            raise LmlabError(
                f"{self.path}: in use by another lmlab process (pid {holder}); wait for it or use another --out"
            ) from None

    def claim(self):
        """Write our pid in the lock file: the run has started."""
        self.file.seek(0)
        self.file.truncate()
        self.file.write(str(os.getpid()))
        self.file.flush()

    def release(self, discard: bool = False):
        """Unlock; with discard (the run never started), remove the lock file and a folder it created, if empty."""
        if discard and self.created_file:
            (self.path / ".lock").unlink(missing_ok=True)
            if self.created_folder and not any(self.path.iterdir()):
                self.path.rmdir()
        self.file.close()  # closing the file releases the flock


def _real_dir(p: Path) -> bool:
    return p.is_dir() and not p.is_symlink()


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
    if kind == "reward-model":
        from lmlab.models.config import ModelConfig
        from lmlab.models.reward import RewardModel

        return RewardModel(section_from_dict(ModelConfig, record.get("model", {}), where))
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
    run.load_weights(model, ignore=tuple(record.get("training_only_weights", ())))  # e.g. PPO's critic
    return LoadedRun(model.to(device).eval(), tokenizer, record)
