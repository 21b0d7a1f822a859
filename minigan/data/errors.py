"""The one error every data loader raises."""


class DataError(ValueError):
    """A dataset could not be loaded: the message says what was wrong and how to fix it.

    A subclass of ``ValueError`` so callers that already catch bad values catch this too.
    """
