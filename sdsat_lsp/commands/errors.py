"""`CommandError`: the one exception a command raises for a user-facing failure.

Its own module so that the dispatcher (`sdsat_lsp.cli`) and every command module import it
without importing each other.
"""


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2, no traceback."""
