"""What every CT reader shares: the HU of air, and the error and warning of CT input."""

AIR_HU = -1024.0  # what missing, padded or non-finite voxels are shown as


class CTReadError(ValueError):
    """A CT input that cannot be read (the message names the file and what was
    expected)."""


class CTInputWarning(UserWarning):
    """A CT input that was read but looks wrong (the message names the file)."""
