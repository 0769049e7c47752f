"""Interoperability with other tools: Hugging Face transformers model folders (huggingface.py)."""
