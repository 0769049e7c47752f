"""Where and how a run computes: device choice, bf16 autocast, the DDP process group and its helpers."""

import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from lmlab.errors import LmlabError


def mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def pick_device(name: str = "auto") -> torch.device:
    """auto: a CUDA GPU, else Apple Silicon's GPU (MPS), else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LmlabError(f"--device {name}: CUDA is not available on this machine (use cpu or auto)")
    if name == "mps" and not mps_available():
        raise LmlabError("--device mps: Apple's MPS backend is not available on this machine (use cpu or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise LmlabError(f"--device {name!r}: expected auto, cpu, cuda, cuda:N or mps") from None


def compile_unsupported(device: torch.device) -> str | None:
    """Why torch.compile cannot run on this device here, or None when it can: inductor builds C++ kernels for the
    CPU (it needs a C++ compiler), Triton kernels on CUDA; MPS support is still a prototype."""
    import shutil

    if device.type == "cpu" and not any(shutil.which(cxx) for cxx in ("g++", "c++", "clang++")):
        return "no C++ compiler (g++, c++ or clang++) on the PATH, which torch.compile needs on the CPU"
    if device.type == "mps":
        return "torch.compile on Apple's MPS is a prototype"
    return None


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), or what platform knows: a figure without it is not comparable."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX: the CPU multiplies bf16 natively (else bf16 autocast is slower than fp32)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """auto: bf16 autocast on a GPU that has bf16 and on a CPU that multiplies bf16 natively; float32 on MPS
    (its bf16 support depends on the macOS version and autocast there is young: --dtype bfloat16 asks for it)."""
    if dtype == "float32":
        return torch.float32
    if dtype == "bfloat16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if device.type == "cpu" and cpu_has_bf16() else torch.float32


def autocast(device: torch.device, dtype: torch.dtype):
    """bf16 autocast (weights and optimizer stay fp32), or nothing for fp32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@dataclass
class Distributed:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> tuple[Distributed, torch.device]:
    """Join the process group torchrun set up (gloo on CPU, nccl on CUDA), or run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Distributed(), pick_device(device_name)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank, local_rank, world), device


@functools.cache
def measure_peak_flops(device: torch.device, dtype: torch.dtype) -> float:
    """The matmul FLOP/s this device reaches now (the denominator of MFU): best of a few 1k/8k matmuls."""
    import time

    n = 1024 if device.type == "cpu" else 8192
    a = torch.full((n, n), 0.5, device=device, dtype=dtype)  # no random numbers: leave the RNG alone
    b = torch.full((n, n), 0.25, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(6):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


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
