"""Dataset adapters: each reads one dataset's official layout and yields :class:`Sample` records."""

from training.data.adapters import ckplus, csv_folder, ferg, jaffe, kdef, london, oulu, rafd  # noqa: F401  (register)
from training.data.adapters.base import DataError, Sample, adapter_kinds, make_adapter, register_adapter

__all__ = ["DataError", "Sample", "adapter_kinds", "make_adapter", "register_adapter"]
