"""The single exception type raised for unusable data files."""


class DatasetError(ValueError):
    """A data set is missing, unreadable, corrupt or inconsistent.

    Messages always name the file or folder involved and, where possible, say how to fix
    the problem (where to put the data, or how to download it again).
    """
