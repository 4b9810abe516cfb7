"""ToolInputError: the one exception a tool raises to tell the model it asked wrongly."""

from __future__ import annotations


class ToolInputError(Exception):
    """Bad input from the model (missing file, path outside the workspace, bad regex...).

    The executor passes the message to the model verbatim, without the exception type,
    so write it as one line addressed to the model.
    """
