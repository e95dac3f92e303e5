"""The one exception type a user can cause.

`cwm` commands catch `CwmError` and print its message as one ``Error: ...`` line
(exit code 1; a wrong option or argument is click's usage error, exit code 2), so
the message must say what went wrong and what to do about it.
"""


class CwmError(Exception):
    """An error the user can fix; its message is shown as is, on one line."""
