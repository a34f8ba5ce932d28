"""Process-wide state changed only for the length of a ``with`` block, then restored.

A library must leave its caller's process as it found it: the metric engine needs exact fp32 on
CUDA (TF32 off, see :class:`~evalkit.metrics.MetricEngine`) and training on a CPU chooses its
thread count, but only while they compute (:func:`torch_settings`; ``torch.backends.cudnn.flags``
scopes cuDNN's flags alike, but matmul's TF32 flag and the thread count have no such context in
torch); compressai's import warns about something that is not the caller's concern, and only
that warning is silenced, only while it is imported (:func:`importing_compressai`); the cyclic
garbage collector is paused while a package that builds a million objects is imported
(:func:`gc_paused`).
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_settings(tf32: bool | None = None, threads: int | None = None) -> Iterator[None]:
    """Within the block: TF32 allowed or not in cuDNN convolutions and CUDA matmuls (``tf32``),
    ``threads`` intra-op CPU threads; None leaves a setting alone. Restored on the way out."""
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.get_num_threads())
    try:
        if tf32 is not None:
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
        if threads is not None and threads != before[2]:
            torch.set_num_threads(threads)
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before[:2]
        if torch.get_num_threads() != before[2]:
            torch.set_num_threads(before[2])


@contextmanager
def importing_compressai() -> Iterator[None]:
    """For the block that imports compressai: compressai 1.2.8 imports torch_geometric (for its
    point-cloud datasets), which calls ``torch.jit.script`` at import time; torch 2.14 warns about
    that on every import, in every worker. It is not evalkit's to fix and says nothing to a user,
    so that one message is ignored inside the block (the caller's warning filters are restored)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning
        )
        yield


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection within the block (then on again if it was on): for a heavy
    import such as lpips (torchvision, and with it ``torch._dynamo``), during which the collector
    would walk the growing heap over and over — about half a CPU-second of that import."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
