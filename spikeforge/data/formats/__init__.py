"""Byte-level readers and writers of real event-data formats; all raise :class:`FormatError`."""

from ._errors import FormatError as FormatError
from .aedat import DVS128_SENSOR_SIZE as DVS128_SENSOR_SIZE
from .aedat import decode_aedat31 as decode_aedat31
from .aedat import encode_aedat31 as encode_aedat31
from .aedat import read_aedat31 as read_aedat31
from .aedat import write_aedat31 as write_aedat31
from .files import FILE_FORMATS as FILE_FORMATS
from .files import FileSummary as FileSummary
from .files import detect_format as detect_format
from .files import read_sample as read_sample
from .files import summarize_file as summarize_file
from .files import write_sample as write_sample
from .hdf5_events import read_events_h5 as read_events_h5
from .hdf5_events import write_events_h5 as write_events_h5
from .hdf5_spikes import SHD_CHANNELS as SHD_CHANNELS
from .hdf5_spikes import SpikeH5Reader as SpikeH5Reader
from .hdf5_spikes import read_neuromorse_stream_h5 as read_neuromorse_stream_h5
from .hdf5_spikes import read_neuromorse_words_h5 as read_neuromorse_words_h5
from .hdf5_spikes import write_neuromorse_stream_h5 as write_neuromorse_stream_h5
from .hdf5_spikes import write_neuromorse_words_h5 as write_neuromorse_words_h5
from .hdf5_spikes import write_shd_h5 as write_shd_h5
from .nmnist import NMNIST_SENSOR_SIZE as NMNIST_SENSOR_SIZE
from .nmnist import decode_atis_bytes as decode_atis_bytes
from .nmnist import encode_atis_bytes as encode_atis_bytes
from .nmnist import read_atis_bin as read_atis_bin
from .nmnist import write_atis_bin as write_atis_bin

__all__ = [
    "FormatError", "DVS128_SENSOR_SIZE", "decode_aedat31", "encode_aedat31", "read_aedat31",
    "write_aedat31", "SHD_CHANNELS", "SpikeH5Reader", "read_neuromorse_stream_h5",
    "read_neuromorse_words_h5", "write_neuromorse_stream_h5", "write_neuromorse_words_h5",
    "write_shd_h5", "NMNIST_SENSOR_SIZE", "decode_atis_bytes", "encode_atis_bytes", "read_atis_bin",
    "write_atis_bin", "FILE_FORMATS", "FileSummary", "detect_format", "read_sample", "summarize_file",
    "write_sample", "read_events_h5", "write_events_h5",
]
