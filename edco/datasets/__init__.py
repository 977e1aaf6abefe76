"""Where records come from: the file and Hugging Face readers, the built-in demo task, and the TeleQnA importer."""

from edco.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "readers": ["load_records"],
    },
)
