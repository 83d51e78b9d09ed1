r"""Data-parallel training over ``torch.distributed``: process group, sharded sampler, gradient sync, launcher.

Every process (a *rank*) holds a full copy of the model and trains on its share of each global
batch; after each backward pass the gradients are combined so every rank takes the same optimizer
step. Neuron state is per sample (it lives in the forward pass of each sample's ``[T, B, ...]``
slice), so nothing but the gradients needs to be exchanged.

**Batch size is global.** ``batch_size`` is the number of samples per optimizer step summed over
all ranks; global batch :math:`k` (samples ``perm[kB:(k+1)B]`` of the epoch's permutation) is cut
into ``world`` contiguous, near-equal shares (:func:`torch.tensor_split`), rank :math:`r` gets
share :math:`r`. With a loss that is a mean over the batch, rank :math:`r`'s gradient
:math:`g_r` of its share (:math:`b_r` samples) is weighted and summed:

.. math:: g = \sum_r \frac{b_r}{\sum_{r'} b_{r'}} \, g_r

which is the gradient of the mean over the whole global batch — so the same config trains the
same model at any number of processes (up to float32 summation order), and a checkpoint written
at one process count resumes at another. The weighting also makes a smaller last batch exact.

The permutation is ``torch.randperm(N, generator=Generator().manual_seed(seed))`` with the
per-epoch seed that the single-process :class:`~torch.utils.data.RandomSampler` uses, so the
one-process batches are exactly the same samples.

Why not the ``DistributedDataParallel`` wrapper: the online training modes (SLTT, OTTT) call
``backward`` once per time step, and the wrapper all-reduces inside every ``backward``; one
flattened, weighted all-reduce after the mode's last backward works for every mode and also
weights unequal shares exactly. (DDP's bucketing overlaps communication with backward; at the
model sizes here one all-reduce per step costs little.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["DistEnv", "ShardedBatchSampler", "init_from_env", "current", "sync_gradients", "broadcast_parameters",
           "all_sum", "broadcast_object", "all_gather_object", "launch", "check_backend", "refuse_unsupported",
           "free_port", "hosted_rendezvous"]

BACKENDS = ("auto", "gloo", "nccl")


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the process group."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, checkpoints and writes reports."""
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        """Where collective buffers live: NCCL needs CUDA tensors, gloo takes CPU tensors."""
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")


def check_backend(backend: str) -> str:
    """Resolve ``"auto"`` (NCCL with CUDA, else gloo) and refuse NCCL without CUDA."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown distributed backend {backend!r}; valid: {', '.join(BACKENDS)}")
    cuda = torch.cuda.is_available()
    if backend == "auto":
        return "nccl" if cuda else "gloo"
    if backend == "nccl" and not cuda:
        raise ValueError("backend 'nccl' needs CUDA, but torch.cuda.is_available() is False on this machine "
                         "(use --backend gloo for CPU processes)")
    return backend


def current() -> DistEnv | None:
    """The process group this process belongs to (``None`` when not distributed or world size 1)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    return DistEnv(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")),
                   str(dist.get_backend()))


def init_from_env(backend: str = "auto") -> DistEnv | None:
    """Join the process group described by ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``
    (set by :func:`launch` and by ``torchrun``); ``None`` if ``WORLD_SIZE`` is unset or 1."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    if dist.is_initialized():
        return current()
    resolved = check_backend(backend)
    if resolved == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(resolved, init_method="env://")
    return current()


class ShardedBatchSampler:
    """Yields this rank's share of each global batch of one epoch's permutation; resumable.

    Args:
        n: Dataset length ``N``.
        batch_size: Global batch size ``B`` (all ranks together).
        rank, world_size: This rank and the number of ranks ``W``.

    :meth:`set_epoch` sets the permutation seed; :meth:`state_dict` holds it and the number of
    global batches already consumed (``position``), and :meth:`load_state_dict` continues from
    there. Every rank yields the same number of batches; every share is non-empty (checked at
    construction: ``B >= W`` and the last, partial batch has ``>= W`` samples).
    """

    def __init__(self, n: int, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in a world of {world_size} processes")
        if n == 0:
            raise ValueError("the training split is empty (0 samples): check the dataset and its split settings")
        if n < world_size:
            raise ValueError(f"the training split has {n} samples, fewer than the {world_size} processes; "
                             f"use at most {n} processes")
        if batch_size < world_size:
            raise ValueError(f"batch_size {batch_size} (the global batch) is smaller than the {world_size} "
                             f"processes: every process needs >= 1 sample per step; set batch_size >= {world_size}")
        last = n % batch_size
        if 0 < last < world_size:
            raise ValueError(f"the last batch of each epoch holds {last} samples ({n} samples, batch_size "
                             f"{batch_size}), fewer than the {world_size} processes; choose a batch_size whose "
                             f"remainder {n} mod batch_size is 0 or >= {world_size}")
        self.n, self.batch_size, self.rank, self.world_size = n, batch_size, rank, world_size
        self.seed, self.position = 0, 0

    def set_epoch(self, seed: int) -> None:
        """Start a new epoch whose permutation is seeded with ``seed``."""
        self.seed, self.position = int(seed), 0

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "position": self.position, "batch_size": self.batch_size, "n": self.n}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if int(state["batch_size"]) != self.batch_size or int(state["n"]) != self.n:
            raise ValueError(f"sampler state for {state['n']} samples in batches of {state['batch_size']} does not "
                             f"match this run ({self.n} samples, batch_size {self.batch_size})")
        self.seed, self.position = int(state["seed"]), int(state["position"])

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed))  # [N]
        for k in range(self.position, len(self)):
            batch = perm[k * self.batch_size:(k + 1) * self.batch_size]  # [B] (last: [N mod B])
            share = torch.tensor_split(batch, self.world_size)[self.rank]  # [b_r], b_r = B/W ± 1
            self.position = k + 1
            yield share.tolist()


def all_sum(values: Sequence[float], env: DistEnv) -> list[float]:
    """Sum plain numbers over all ranks (float64)."""
    import torch.distributed as dist

    buf = torch.tensor(list(values), dtype=torch.float64, device=env.device)  # [K]
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return [float(v) for v in buf.cpu()]


def sync_gradients(model: nn.Module, samples: int, env: DistEnv) -> None:
    r"""Replace every ``.grad`` by :math:`\sum_r (b_r / \sum b) g_r` (see the module docstring).

    ``samples`` is this rank's :math:`b_r`. A parameter without a gradient on this rank counts
    as a zero gradient (it still gets the others' share), so all ranks stay identical.
    """
    import torch.distributed as dist

    params = [p for p in model.parameters() if p.requires_grad]
    counts = all_sum([samples] + [float(p.grad is not None) for p in params], env)
    weight = samples / counts[0]
    params = [p for p, c in zip(params, counts[1:]) if c > 0]  # no rank has a gradient: stays None, as in 1 process
    if not params:
        return
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])  # [P]
    flat = (flat * weight).to(env.device)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat = flat.cpu() if env.device.type != "cpu" else flat
    offset = 0
    for p in params:
        p.grad = flat[offset:offset + p.numel()].view_as(p).to(p.device).clone()  # [P] slice -> p's shape
        offset += p.numel()


def broadcast_parameters(model: nn.Module, env: DistEnv) -> None:
    """Copy rank 0's parameters and buffers to every rank (one identical starting point)."""
    import torch.distributed as dist

    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            buf = t.detach().to(env.device).clone()
            dist.broadcast(buf, src=0)
            t.copy_(buf.to(t.device))


def broadcast_object(obj: Any, env: DistEnv) -> Any:
    """Rank 0's ``obj`` on every rank (pickled between our own processes only)."""
    import torch.distributed as dist

    box = [obj if env.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(obj: Any, env: DistEnv) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank (pickled between our own processes only)."""
    import torch.distributed as dist

    box: list[Any] = [None] * env.world_size
    dist.all_gather_object(box, obj)
    return box


def refuse_unsupported(model: nn.Module) -> None:
    """Raise for models whose training would differ per rank in a way gradient averaging cannot fix."""
    norms = [name for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if norms:
        raise ValueError(f"this model has BatchNorm layers ({', '.join(norms[:3])}{' …' if len(norms) > 3 else ''}), "
                         "whose batch statistics would be computed per process; multi-process training "
                         "supports models without BatchNorm (train it with nproc 1)")


def free_port() -> int:
    """A TCP port that was free a moment ago on this machine.

    The port is released before this returns, so another process may bind it before it is used
    (the launcher does not use this: :func:`hosted_rendezvous` keeps its port bound throughout).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def hosted_rendezvous(world_size: int, port: int | None = None) -> Iterator[dict[str, str]]:
    """Host a local process group's rendezvous store in this process while the block runs.

    Yields the environment its ranks need besides ``RANK`` and ``LOCAL_RANK``: ``WORLD_SIZE``,
    ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR=127.0.0.1``, ``MASTER_PORT`` (the store's port) and
    ``TORCHELASTIC_USE_AGENT_STORE=True``, which makes every rank's ``init_process_group`` (``env://``)
    a client of this store instead of rank 0 starting one, as under ``torchrun``, whose agent hosts
    the store the same way.

    The store's socket is bound when the port is chosen (``port=None``: by the OS) and stays bound
    until the block ends, so no other process can take the port between its choice and the ranks'
    rendezvous. (Picking a free port, releasing it and letting rank 0 bind it seconds later, after
    its imports, leaves that window open; a port taken in it fails rank 0 with ``EADDRINUSE``.)
    """
    import torch.distributed as dist

    store = dist.TCPStore("127.0.0.1", 0 if port is None else port, world_size, is_master=True,
                          wait_for_workers=False)
    try:
        yield {"WORLD_SIZE": str(world_size), "LOCAL_WORLD_SIZE": str(world_size), "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(store.port), "TORCHELASTIC_USE_AGENT_STORE": "True"}
    finally:
        del store  # stops the server and frees the port


def launch(argv: Sequence[str], nproc: int, *, port: int | None = None, env: dict[str, str] | None = None,
           poll: float = 0.2) -> int:
    """Run ``python -m spikeforge <argv>`` in ``nproc`` local processes forming one process group.

    This process hosts the group's rendezvous store (:func:`hosted_rendezvous`, on ``port`` or a
    port the OS picks) until the processes end. Each child gets ``RANK = LOCAL_RANK = i`` and the
    store's environment (``WORLD_SIZE = nproc``, ``MASTER_ADDR = 127.0.0.1``, ``MASTER_PORT``), on
    top of this process's environment and ``env``. Returns 0 when all succeed. If one fails, a line
    on stderr names the rank and its exit code or signal, the others are terminated and its exit
    code is returned: ``128 + n`` for a process killed by signal ``n`` (as a shell reports it).
    """
    if nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {nproc}")
    with hosted_rendezvous(nproc, port) as group:
        base = dict(os.environ, **(env or {}), **group)
        cmd = [sys.executable, "-m", "spikeforge", *argv]
        procs = [subprocess.Popen(cmd, env={**base, "RANK": str(i), "LOCAL_RANK": str(i)}) for i in range(nproc)]
        try:
            while True:
                codes = [p.poll() for p in procs]
                failed = [(rank, c) for rank, c in enumerate(codes) if c not in (None, 0)]
                if failed:
                    for rank, c in failed:
                        print(f"spikeforge --nproc {nproc}: rank {rank} {_describe_exit(c)}; stopping the other "
                              "processes", file=sys.stderr, flush=True)
                    _stop(procs)
                    code = failed[0][1]
                    return code if code > 0 else 128 - code
                if all(c == 0 for c in codes):
                    return 0
                time.sleep(poll)
        except KeyboardInterrupt:
            _stop(procs)
            raise


def _describe_exit(code: int) -> str:
    """``Popen.returncode`` in words: a negative code is the signal that killed the process."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = "an unknown signal"
    return f"was killed by signal {-code} ({name})"


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
