"""Fully sharded data parallelism (FSDP2) and the sharded checkpoints that go with it.

`--parallel fsdp` shards every Transformer block, and then the whole model, with PyTorch's own
`torch.distributed.fsdp.fully_shard`: each process keeps 1/world of the weights, gradients and AdamW state,
all-gathers a block's weights just before its forward (and again in the backward) and reduce-scatters its
gradients after. With bf16 the blocks compute in bf16 through a MixedPrecisionPolicy while the master weights,
the gradient reduction and the optimizer stay fp32, as under autocast.

Checkpoints of such a run are written through torch.distributed.checkpoint (DCP), each process its own shards:
    step-N/model.safetensors   the full weights, one ordinary file: each process writes its shards and DCP's
                               consolidation streams them into one file (no process gathers the model)
    step-N/optimizer/          AdamW's state, sharded (.distcp files, and .metadata naming their pieces)
    step-N/trainer.pt          step, time spent, RNG (lmlab.trainer)
Loading goes through DCP's planner, which reads each process's part of every tensor from whichever shards hold
it: a run saved by 2 processes resumes on 1 or 4 (resharding).
"""

import contextlib
import shutil
from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import CPUOffloadPolicy, FSDPModule, MixedPrecisionPolicy, fully_shard

from lmlab.errors import LmlabError

OPTIMIZER_DIR = "optimizer"  # a sharded checkpoint's optimizer state (DCP)


def shard_model(model: torch.nn.Module, dtype: torch.dtype, offload: bool = False) -> torch.nn.Module:
    """fully_shard each Transformer block (the children of any `h` ModuleList a GPT body has) and then the model.

    Blocks free their gathered weights after the forward (gathered again for the backward); the root keeps its
    own (embeddings, final norm, head) from forward to backward, which follow each other at once."""
    mp = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32) if dtype != torch.float32 else None
    kw = {"mp_policy": mp} if mp is not None else {}
    if offload:
        kw["offload_policy"] = CPUOffloadPolicy()
    for m in list(model.modules()):
        if hasattr(m, "checkpoint_blocks") and isinstance(getattr(m, "h", None), torch.nn.ModuleList):
            for block in m.h:
                fully_shard(block, reshard_after_forward=True, **kw)
    fully_shard(model, reshard_after_forward=False, **kw)
    return model


def is_sharded(model: torch.nn.Module) -> bool:
    return isinstance(model, FSDPModule)


def _units(model: torch.nn.Module) -> list[FSDPModule]:
    return [m for m in model.modules() if isinstance(m, FSDPModule)]


@contextlib.contextmanager
def gathered(model: torch.nn.Module):
    """Every process holds the whole model (all-gathered once) inside, so forwards need no collectives: evaluation
    and rollouts may run a different number of forwards on each process, or on rank 0 alone. A no-op when the
    model is not sharded."""
    if not is_sharded(model):
        yield model
        return
    units = _units(model)
    for m in units:
        m.unshard()
        m.set_reshard_after_forward(False, recurse=False)
    try:
        yield model
    finally:
        for m in units:
            m.reshard()
            m.set_reshard_after_forward(m is not model, recurse=False)  # as shard_model left them


def full_grad_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The global L2 norm of gradients that may be sharded DTensors (their local norms summed over processes)."""
    norms = [g.norm() for g in grads]
    total = torch.linalg.vector_norm(torch.stack([n.full_tensor() if hasattr(n, "full_tensor") else n for n in norms]))
    return total


# ---- checkpoints --------------------------------------------------------------------------------------------
def save(folder: Path, model: torch.nn.Module, optimizer, is_main: bool):
    """Write model.safetensors (full, consolidated from every process's shards) and the sharded optimizer state into
    `folder`, which every process sees (one machine, or a filesystem the nodes share). Collective."""
    from torch.distributed.checkpoint import HuggingFaceStorageWriter

    model_dir = folder / "model"
    weights = {k: v for k, v in get_model_state_dict(model).items() if k not in _tied_aliases(model)}
    writer = HuggingFaceStorageWriter(str(model_dir), save_distributed=True, enable_consolidation=True)
    dcp.save(weights, storage_writer=writer)
    dcp.save(get_optimizer_state_dict(model, optimizer), checkpoint_id=str(folder / OPTIMIZER_DIR))
    if is_main:  # DCP's consolidation (rank 0) wrote model_dir/model-00001-of-00001.safetensors
        consolidated = [p for p in model_dir.glob("*.safetensors") if p.is_file()]
        if len(consolidated) != 1:
            raise LmlabError(f"{model_dir}: expected one consolidated weights file, found {len(consolidated)}")
        consolidated[0].replace(folder / "model.safetensors")
        shutil.rmtree(model_dir)


def load(folder: Path, model: torch.nn.Module, optimizer):
    """Read a checkpoint's model.safetensors and sharded optimizer state into this process's part of the model and
    optimizer, whatever the number of processes that saved them. Collective when the model is sharded."""
    from torch.distributed.checkpoint import HuggingFaceStorageReader

    names = check_shards(folder)
    state = get_model_state_dict(model)
    weights = {k: v for k, v in state.items() if k in names}
    # a tied table is saved under one of its names (either one: safetensors' save_model picks for an unsharded run)
    missing = [group[0] for group in _name_groups(model) if not set(group) & names]
    if missing or len(weights) != len(names):
        raise LmlabError(
            f"{folder / 'model.safetensors'}: does not fit this model (missing {missing[:3]}, "
            f"unexpected {sorted(names - set(state))[:3]})"
        )
    try:
        dcp.load(weights, storage_reader=HuggingFaceStorageReader(str(folder)))
        set_model_state_dict(model, weights, options=StateDictOptions(strict=False))
    except Exception as e:
        raise LmlabError(f"{folder / 'model.safetensors'}: does not fit this model ({_first_line(e)})") from None
    state = get_optimizer_state_dict(model, optimizer)
    try:
        dcp.load(state, checkpoint_id=str(folder / OPTIMIZER_DIR))
        set_optimizer_state_dict(model, optimizer, state)
    except Exception as e:
        raise LmlabError(f"{folder / OPTIMIZER_DIR}: does not fit this model's optimizer ({_first_line(e)})") from None


def is_sharded_checkpoint(folder: Path) -> bool:
    return (folder / OPTIMIZER_DIR).is_dir()


def check_shards(folder: Path) -> set[str]:
    """Name, in one line, the first missing or damaged file of a sharded checkpoint: every file DCP's metadata
    names must exist and be long enough for every piece it holds; model.safetensors must open."""
    from safetensors import safe_open

    meta_file = folder / OPTIMIZER_DIR / ".metadata"
    if not meta_file.is_file():
        raise LmlabError(f"{meta_file}: missing; the checkpoint is incomplete")
    try:
        metadata = dcp.FileSystemReader(str(folder / OPTIMIZER_DIR)).read_metadata()
    except Exception as e:
        raise LmlabError(f"{meta_file}: not a readable checkpoint index ({_first_line(e)})") from None
    needed: dict[str, int] = {}
    for info in metadata.storage_data.values():
        name = Path(info.relative_path).name
        needed[name] = max(needed.get(name, 0), info.offset + info.length)
    for name, size in sorted(needed.items()):
        f = folder / OPTIMIZER_DIR / name
        if not f.is_file():
            raise LmlabError(f"{f}: missing; the checkpoint is incomplete")
        if f.stat().st_size < size:
            raise LmlabError(f"{f}: truncated ({f.stat().st_size} bytes, its index expects at least {size})")
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise LmlabError(f"{weights}: missing; the checkpoint is incomplete")
    try:
        with safe_open(str(weights), framework="pt") as f:
            return set(f.keys())
    except Exception as e:
        raise LmlabError(f"{weights}: not a readable safetensors file ({_first_line(e)})") from None


def _name_groups(model: torch.nn.Module) -> list[list[str]]:
    """The state dict's names grouped by the tensor they name, each group sorted: a tied table's names together, every
    other parameter and buffer alone."""
    groups: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(p), []).append(name)
    named = {name for names in groups.values() for name in names}
    return [sorted(names) for names in groups.values()] + [[k] for k in model.state_dict() if k not in named]


def _tied_aliases(model: torch.nn.Module) -> set[str]:
    """The names of parameters shared between modules (a tied head) but the first in sorted order: a tied table is
    saved once under that name, as safetensors' save_model saves it for an unsharded run."""
    return {name for group in _name_groups(model) for name in group[1:]}


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
