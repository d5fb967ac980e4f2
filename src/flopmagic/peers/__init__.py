"""Peers: the other tools' counters (fvcore, FlopCounterMode, TensorFlow's profiler) as backends."""
