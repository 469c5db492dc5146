"""Test session set-up: isolated ROS domain on loopback, offscreen rendering, 2 torch threads."""

import os

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# Each test session gets its own DDS domain so parallel runs never cross-talk.
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
os.environ.setdefault("MUJOCO_GL", "egl")

import torch  # noqa: E402

torch.set_num_threads(2)


def pytest_sessionfinish(session, exitstatus):
    """With FUZZ_COUNTS=path: write the fuzz targets' input counts (test/fuzzlib.py) there."""
    path = os.environ.get("FUZZ_COUNTS")
    fuzzlib = __import__("sys").modules.get("fuzzlib")
    if not path or fuzzlib is None:
        return
    import json
    import resource

    data = {
        "profile": fuzzlib.PROFILE,
        "scale": fuzzlib.SCALE,
        "targets": {t: dict(c) for t, c in sorted(fuzzlib.COUNTS.items())},
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
