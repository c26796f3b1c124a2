"""The error every review service raises for a state change that cannot happen."""


class ReviewError(Exception):
    """A state change that cannot happen (stale submit, a label off the scale, …): views
    answer with the status it carries, 409 unless it says otherwise."""

    def __init__(self, message: str, *, status: int = 409):
        super().__init__(message)
        self.status = status
