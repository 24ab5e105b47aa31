"""The old import path of the Dask execution, kept for its callers (the batch and
training on Dask, the command line, benchmarks): the code is in
:mod:`scoring.features.history_dask` and :mod:`scoring.features.log_dask`."""
from scoring.features.history_dask import (HISTORY_COLUMNS, SLICE_US, _slices_history,  # noqa: F401
                                           balance, compute_features, feature_frame_dask,
                                           history_keys, history_passes, reach_of,
                                           slice_days, time_slices)
from scoring.features.log_dask import (LOG_SUFFIXES, empty_log, log_files,  # noqa: F401
                                       read_described, read_log_dask, repeated_ids)
