"""Exceptions with one-line messages that name the problem; the CLI prints them without a traceback."""


class TadtError(Exception):
    """Base class: a user-facing problem (bad input, missing weights, ...)."""


class BadBoxError(TadtError, ValueError):
    pass


class BadFrameError(TadtError, ValueError):
    pass


class WeightsError(TadtError, RuntimeError):
    pass


class DeviceError(TadtError, RuntimeError):
    pass
