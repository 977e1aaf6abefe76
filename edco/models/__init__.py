"""Loading models and tokenizers (the bundled default included), their device placement, and checkpoints."""

from edco.models.bundled import EMBEDDED, ensure_embedded
from edco.models.devices import placement, resolve_placement
from edco.models.loading import load_model, load_tokenizer, resolve, save_checkpoint

__all__ = [
    "EMBEDDED",
    "ensure_embedded",
    "load_model",
    "load_tokenizer",
    "placement",
    "resolve",
    "resolve_placement",
    "save_checkpoint",
]
