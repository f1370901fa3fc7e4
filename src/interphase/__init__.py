"""interphase: closed-loop inverse design of battery interphases.

The package is layered; imports flow one way:
schema → store → sources → models → agent → design → api/cli.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("interphase")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
