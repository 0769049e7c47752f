"""The one exception type for mistakes a user can fix (bad input, bad config, bad paths).

The CLI catches it once and prints it as a single line with exit code 2; everything else
is a programming error and raises normally.
"""


class LmlabError(Exception):
    """A user error: the message names the file, line or field and what was expected."""
