"""Building diagnostic_msgs/DiagnosticArray messages from plain dicts."""

from __future__ import annotations

import math
from collections.abc import Mapping

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

OK = DiagnosticStatus.OK
WARN = DiagnosticStatus.WARN
ERROR = DiagnosticStatus.ERROR


def _text(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def make_status(
    name: str, hardware_id: str, level: int, message: str, values: Mapping[str, object]
) -> DiagnosticStatus:
    """A DiagnosticStatus of `level` (OK, WARN, ERROR) with `values` as KeyValue text.

    Floats are written with 4 significant digits (NaN as "nan"), everything else with str().
    """
    status = DiagnosticStatus()
    status.level = bytes([level]) if isinstance(level, int) else level
    status.name = name
    status.hardware_id = hardware_id
    status.message = message
    status.values = [KeyValue(key=k, value=_text(v)) for k, v in values.items()]
    return status


def make_array(stamp, *statuses: DiagnosticStatus) -> DiagnosticArray:
    """A DiagnosticArray stamped `stamp` (builtin_interfaces/Time) holding `statuses`."""
    msg = DiagnosticArray()
    msg.header.stamp = stamp
    msg.status = list(statuses)
    return msg


def values_of(status: DiagnosticStatus) -> dict[str, str]:
    """KeyValue list as a dict (for tests and tools)."""
    return {kv.key: kv.value for kv in status.values}
