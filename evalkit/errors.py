"""The one exception type for what a user did wrong.

:class:`InputError` means the input was at fault — a file that cannot be read, an unknown name, an
impossible parameter, a corrupt bitstream, missing weights — and says what to do next. It is
raised where the input is checked. The CLI prints it as one line and exits with status 2; any other
exception is a bug in evalkit and keeps its traceback. It is a ``ValueError``, so code written to scikit-learn's conventions
(which expect one for bad parameters and data) works unchanged.
"""

from __future__ import annotations


class InputError(ValueError):
    """Something the user gave (or did not give) cannot be used; the message says what to do."""
