"""Monitoring by hooks (firing rates, one layer's outputs and states) and plots of activity."""

from . import plots as plots
from .plots import plot_layer_rates as plot_layer_rates
from .plots import plot_membrane as plot_membrane
from .plots import plot_rate_histogram as plot_rate_histogram
from .plots import plot_raster as plot_raster
from .plots import plot_raster_of_first_layer as plot_raster_of_first_layer
from .plots import plot_training_curves as plot_training_curves
from .plots import save_figure as save_figure
from .recorders import LayerRecord as LayerRecord
from .recorders import RateRecord as RateRecord
from .recorders import record_layer as record_layer
from .recorders import record_rates as record_rates
from .recorders import spiking_layers as spiking_layers
from .recorders import trace as trace

__all__ = [
    "plots", "LayerRecord", "RateRecord", "record_layer", "record_rates", "spiking_layers", "trace",
    "plot_layer_rates", "plot_membrane", "plot_rate_histogram", "plot_raster",
    "plot_raster_of_first_layer", "plot_training_curves", "save_figure",
]
