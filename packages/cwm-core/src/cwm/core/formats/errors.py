from cwm.core.errors import CwmError


class FormatError(CwmError):
    """Text or token ids that do not follow a CWM format."""
