"""Loading models and tokenizers (the bundled default included), their device placement, checkpoints,
the machine and library versions a stage computed on (`environment`), and the transformers names
that changed between the versions edco runs on (`compat`)."""

from edco.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "bundled": ["EMBEDDED", "ensure_embedded"],
        "devices": ["placement", "resolve_placement"],
        "environment": ["environment"],
        "loading": ["load_model", "load_tokenizer", "resolve", "save_checkpoint"],
    },
)
