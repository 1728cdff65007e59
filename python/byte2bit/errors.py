"""Errors of byte2bit: every one is a ValueError, and its class says what went wrong."""


class Byte2BitError(ValueError):
    """Base class of every byte2bit error. ``code`` is the codec's fixed error number, if any."""

    code = 0


class InvalidArgumentError(Byte2BitError):
    code = 1


class UnsupportedDtypeError(Byte2BitError):
    code = 2


class BufferMismatchError(Byte2BitError):
    """The output buffer's dtype, shape or size does not match the stored array."""

    code = 3


class CorruptDataError(Byte2BitError):
    """The stored bytes are damaged: truncated, inconsistent or failing their checksum."""

    code = 5


class TruncatedError(CorruptDataError):
    code = 4


class ChecksumError(CorruptDataError):
    code = 6


class UnsupportedVersionError(Byte2BitError):
    """Written by a newer format version than this library reads."""

    code = 7


class LimitExceededError(Byte2BitError):
    code = 8


class NotByte2BitError(CorruptDataError):
    """The bytes are not a Byte2Bit stream at all."""

    code = 9


_BY_CODE = {cls.code: cls for cls in (
    InvalidArgumentError, UnsupportedDtypeError, BufferMismatchError, TruncatedError,
    CorruptDataError, ChecksumError, UnsupportedVersionError, LimitExceededError, NotByte2BitError)}


def error_class(code: int) -> type:
    """The exception class for a codec error code (used by the C++ extension)."""
    return _BY_CODE.get(code, Byte2BitError)
