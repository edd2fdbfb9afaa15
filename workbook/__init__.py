"""The dev-to-production workbook: the library its notebooks call."""
from .params import Params, ParameterError  # noqa: F401

__version__ = "0.1.0"
