"""Contract conformance suite for the Kyren casino API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kyren-conformance")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0+unknown"

__all__ = ["__version__"]
