"""Kept for test/m3po_ros/test_record.py, which loads `tiny_reach_checkpoint` from this path.

The helper lives in test/m3po_learning/training/conftest.py; this file goes once
test_record.py loads it from there.
"""

import importlib.util
from pathlib import Path

_path = Path(__file__).resolve().parents[1] / "training" / "conftest.py"
_spec = importlib.util.spec_from_file_location("training_conftest", _path)
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
tiny_reach_checkpoint = _mod.tiny_reach_checkpoint
