"""The one family of errors that bad input raises.

Every check of user input (a parameter, a scenario, a data or parameter file,
an output path, a run too large for the machine) raises a subclass of
``UserError``. The command line reports exactly these as one line and exit
status 2; any other exception is a bug and is reported as one. ``UserError``
is a ``ValueError``, so Python callers can catch it the usual way.
"""

from __future__ import annotations


class UserError(ValueError):
    """Input that cannot be used; the message is one line naming the field and what is allowed."""


class ParameterError(UserError):
    """A lever, assumption, channel or score-dynamics parameter is invalid."""


class StatusQuoError(UserError):
    """The t = 0 parameters cannot reproduce the 2018 survey shares the baseline is calibrated to."""
