"""PyTorch adapter: the exact counter (a TorchDispatchMode) and its translation table."""
