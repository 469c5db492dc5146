"""Rosbag2 datasets: read MCAP/sqlite3 bags into transitions for offline fine-tuning (no ROS)."""

from m3po_learning.datasets.alignment import Ticks, Timeline, align_ticks, to_common_clock
from m3po_learning.datasets.bag_reader import BagSource, OpenBag, find_bags
from m3po_learning.datasets.errors import BagError
from m3po_learning.datasets.rosbag import AlignOptions, BagDataset, Episode, load_bag_dataset
from m3po_learning.datasets.topic_map import TopicMap, load_topic_map

__all__ = [
    "AlignOptions",
    "BagDataset",
    "BagError",
    "BagSource",
    "Episode",
    "OpenBag",
    "Ticks",
    "Timeline",
    "TopicMap",
    "align_ticks",
    "find_bags",
    "load_bag_dataset",
    "load_topic_map",
    "to_common_clock",
]
