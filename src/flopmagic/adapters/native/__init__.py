"""Wrapped native counters (fvcore, FlopCounterMode, TensorFlow's profiler) as backends."""
