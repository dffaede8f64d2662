"""Errors raised for bad input (files, boxes, images, settings).

They carry a message meant for the user, naming the file or value at fault; the CLI prints that message as
one line without a traceback. Errors inside the maths are not of this kind: they are bugs.
"""


class InputError(ValueError):
    """Bad user input: a missing or malformed file, an invalid box, an unknown setting."""
