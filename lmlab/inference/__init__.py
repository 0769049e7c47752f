"""Using a trained model: sampling with the KV cache, chat, and encoder-decoder search."""
