"""The ``spikeforge`` command line (thin over the library)."""
