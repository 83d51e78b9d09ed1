"""Reproductions built from the plasticity rules: each a small library module plus a runnable script.

- :mod:`.diehl_cook` — unsupervised STDP with lateral inhibition and adaptive thresholds (Diehl & Cook 2015)
  on scikit-learn's 8×8 digits, against a random-projection baseline with the same readout.
- :mod:`.distal_reward` — Izhikevich 2007's distal-reward experiment with :class:`~spikeforge.plasticity.ThreeFactor`.
- :mod:`.bandit` — a spiking policy learning a multi-armed bandit with a three-factor rule.
- :mod:`.continual` — split-digits continual learning: fine-tuning vs HLOP projection vs joint training.
- :mod:`.ssdp_backprop` — a surrogate-gradient spiking MLP with and without SSDP on its classifier.

Run any of them with ``python -m spikeforge.plasticity.tasks.<name> --help``; measured numbers are in
``docs/plasticity_results.md``. Modules are imported on demand (they pull in scikit-learn).
"""
