"""Runnable task benchmarks built from the library (each module: data, model, training, evaluation, a ``main``)."""
