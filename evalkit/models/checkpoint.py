"""Self-describing checkpoints of evalkit's own networks.

The file holds the architecture's name and the constructor's arguments beside the weights, so the
learned-codec zoo (:func:`evalkit.codecs.checkpoints.build_network`) rebuilds the network from the
file alone — CompressAI's architectures, by contrast, infer N and M from the weights' shapes.
"""

from __future__ import annotations


class SelfDescribing:
    """Mixin for a ``torch.nn.Module`` with ``architecture`` (the name recipes and zoo files use)
    and ``config`` (its constructor's keyword arguments)."""

    architecture: str
    config: dict

    def checkpoint(self) -> dict:
        """What ``torch.save`` should write: architecture, configuration and weights."""
        return {"architecture": self.architecture, "config": self.config, "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, checkpoint: dict):
        model = cls(**checkpoint["config"])
        model.load_state_dict(checkpoint["state_dict"])
        return model
