"""`lmlab run --scale gpu`: the same pipeline with GPU-sized settings, each training stage on every GPU.

Scale "gpu" picks each stage's `gpu` preset (a GPT-2-small-sized model with a 1,024-token context, bf16 and
torch.compile by default on a GPU, larger batches and longer runs: see each stage's PRESETS) and runs every training
stage on all the devices of the machine: one process on one device; on several, each stage is started with
`torchrun --nproc-per-node N` on its whole config (written as RUN/configs/STAGE.yaml), data-parallel with DDP when the
model's training state (fp32 weights, gradients and AdamW: 16 bytes a parameter) takes at most a quarter of a device,
else sharded with FSDP. The rest of the pipeline (pairs, evaluation, the report) runs in the one `lmlab run` process.

`estimate` says how long each training stage should take on one H100 from its FLOPs (6 per parameter and token for
training, 2 for a forward pass, the attention's own) at an assumed model FLOPs utilisation: an estimate until a GPU
measures it (bench/gpu.py measures the pre-training throughput and MFU of `gpt2-124m`).
"""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from lmlab.errors import LmlabError

H100_BF16_FLOPS = 989e12  # dense bf16 tensor-core peak of an H100 SXM (NVIDIA's datasheet)
ASSUMED_MFU = 0.4  # what a compiled GPT-2-small step reaches on one H100 (nanoGPT-like settings); not measured here


@dataclass
class Plan:
    """How `lmlab run` trains its stages: on how many processes, DDP or FSDP, and what it should cost."""

    processes: int
    parallel: str
    summary: str


def check_scale(scale: str, quick: bool):
    if scale not in ("cpu", "gpu"):
        raise LmlabError(f"--scale {scale!r}: expected cpu or gpu")
    if scale == "gpu" and quick:
        raise LmlabError("--quick is the CPU's few-minute run; --scale gpu has its own sizes (leave one out)")


def peak_rss_mb() -> float:
    """The peak resident memory of this process so far, in MB (what `/usr/bin/time -v` reports at the end)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cuda_peak() -> dict:
    """This process's peak CUDA memory (GB), where a GPU ran it: the single-GPU figure of `--scale gpu`."""
    import torch

    if not torch.cuda.is_available():
        return {}
    return {"cuda_peak_gb": torch.cuda.max_memory_allocated() / 2**30, "gpu": torch.cuda.get_device_name()}


def devices() -> int:
    """How many processes the training stages run on: the CUDA devices of this machine, else 1."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 1


def choose_parallel(parameters: int, device_bytes: int) -> str:
    """ddp when the training state (16 bytes a parameter) takes at most a quarter of one device, else fsdp."""
    return "ddp" if 16 * parameters <= device_bytes / 4 else "fsdp"


def count_parameters(model_config, vocab_size: int) -> int:
    """The parameters of a model of this config, counted on the meta device (nothing allocated)."""
    import copy

    import torch

    from lmlab.models import build_model

    config = copy.deepcopy(model_config)
    config.vocab_size = vocab_size
    with torch.device("meta"):
        model = build_model(config)
    return sum(p.numel() for p in model.parameters())


def plan(pretrain_config, processes: int | None, device: str = "auto") -> Plan:
    """The plan for a pipeline whose pre-training is `pretrain_config`: processes (default: every CUDA device),
    ddp or fsdp by the model's size against one device's memory, and the pre-training's estimated minutes on one
    H100."""
    import torch

    processes = processes or devices()
    if processes < 1:
        raise LmlabError(f"--processes {processes}: expected 1 or more")
    m, t = pretrain_config.model, pretrain_config.train
    parameters = count_parameters(m, pretrain_config.data.bpe_vocab_size)
    cuda = torch.cuda.is_available() and device in ("auto", "cuda") or device.startswith("cuda")
    memory = torch.cuda.get_device_properties(0).total_memory if cuda else None
    parallel = choose_parallel(parameters, memory) if memory else t.parallel
    tokens = t.max_iters * t.batch_size * t.grad_accum * m.block_size
    minutes = estimate({"pretrain": dict(parameters=parameters, n_layer=m.n_layer, n_embd=m.n_embd,
                                         context=m.block_size, tokens=tokens)})["pretrain"]  # fmt: skip
    summary = (
        f"{processes} process{'es' if processes > 1 else ''}{f', {parallel}' if processes > 1 else ''}; pre-training "
        f"{parameters / 1e6:.0f}M parameters on {tokens / 1e6:.0f}M tokens: about {minutes:.1f} min on one H100 at "
        f"{ASSUMED_MFU:.0%} MFU (an estimate from its FLOPs, not a measurement)"
    )
    return Plan(processes, parallel, summary)


def launch(stage: str, fn, config, out: Path, plan: Plan, inputs: dict) -> Path:
    """Train one stage: in this process (one process), or under torchrun on plan.processes processes with the
    stage's whole config in RUN/configs/STAGE.yaml. `inputs` are the stage function's own arguments (init, data,
    reward)."""
    if plan.processes <= 1:
        return fn(config, out=out, **inputs)
    from lmlab.stages.recipe import given_config

    given = {k: str(v) for k, v in inputs.items() if v is not None}
    full, _ = given_config(type(config), config, overrides={**given, "parallel": plan.parallel})
    folder = Path(out).parent / "configs"
    folder.mkdir(parents=True, exist_ok=True)
    config_file = folder / f"{stage}.yaml"
    config_file.write_text(yaml.safe_dump(full.to_dict(), sort_keys=False))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(plan.processes),
               "-m", "lmlab", stage, "--config", str(config_file), "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    if done.returncode:
        raise LmlabError(
            f"{stage} on {plan.processes} processes failed (exit {done.returncode}); config: {config_file}"
        )
    return Path(out)


def training_flops(parameters: int, n_layer: int, n_embd: int, context: int, tokens: float, passes: float = 3) -> float:
    """FLOPs of `tokens` tokens through a decoder of `parameters` parameters (2 per parameter and token a pass, the
    attention's 2 * n_layer * context * n_embd besides); passes: 3 for training (forward and backward), 1 to score."""
    per_token = 2 * parameters + 2 * n_layer * context * n_embd
    return passes * per_token * tokens


def estimate(stages: dict[str, dict], peak: float = H100_BF16_FLOPS, mfu: float = ASSUMED_MFU) -> dict[str, float]:
    """Minutes each stage should take on one device of `peak` FLOP/s at `mfu`. stages: name -> dict(parameters,
    n_layer, n_embd, context, tokens, passes)."""
    return {name: training_flops(**s) / (peak * mfu) / 60 for name, s in stages.items()}
