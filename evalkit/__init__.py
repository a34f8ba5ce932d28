"""evalkit: judge image codecs the way people see them.

The stages are plain functions over plain data (see ``docs/architecture.md``)::

    from evalkit.datasets import resolve_images
    from evalkit.compress import compress
    result = compress(resolve_images("samples"), ["jpeg", "webp"], [0.25, 0.5], "runs/demo")
    result.manifest            # one row per (image, codec, target bpp)
"""
__version__ = "0.1.0"

import warnings

# compressai 1.2.8 imports torch_geometric (for its point-cloud datasets), which calls
# torch.jit.script at import time; torch 2.14 warns about that on every import, in every worker.
# It is not evalkit's to fix and says nothing to a user, so only that message is silenced.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
