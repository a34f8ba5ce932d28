"""evalkit: judge image codecs the way people see them.

The stages are plain functions over plain data (see ``docs/architecture.md``)::

    from evalkit.datasets import resolve_images
    from evalkit.compress import compress
    result = compress(resolve_images("samples"), ["jpeg", "webp"], [0.25, 0.5], "runs/demo")
    result.manifest            # one row per (image, codec, target bpp)
"""
__version__ = "0.1.0"
