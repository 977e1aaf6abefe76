"""Where records come from: the file and Hugging Face readers, the built-in demo task, and the TeleQnA importer."""

from edco.datasets.readers import load_records

__all__ = ["load_records"]
