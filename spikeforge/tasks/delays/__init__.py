"""Delay-learning tasks (issue 13): learned delays vs no delays vs recurrence, and motion from delays.

- :mod:`.run` — delayed XOR / coincidence and spiking-motif detection, three networks at one parameter
  budget, several seeds: ``python -m spikeforge.tasks.delays.run --task xor --seeds 3``.
- :mod:`.motion` — direction / speed of moving shapes (DVS generator) from a delay layer, and its
  accuracy under magnitude pruning: ``python -m spikeforge.tasks.delays.motion``.

Measured numbers are in ``docs/delays.md`` (section "Tasks").
"""
