"""Compatibility module: code written for the seed product (``import byte2bitZarr as b2b``) runs
unchanged. Everything here is byte2bit's."""
from byte2bit import *  # noqa: F401,F403
from byte2bit import __all__, __version__  # noqa: F401
