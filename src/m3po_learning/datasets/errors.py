"""The one error type of the rosbag reader."""

from __future__ import annotations


class BagError(ValueError):
    """A bag cannot be turned into transitions; the message names the bag and what is wrong."""
