"""ament_python package `m3po_ros`, which also installs the ROS-free `m3po_learning` library."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "m3po_ros"


def _tree(folder: str, pattern: str) -> list[str]:
    return sorted(glob(f"{folder}/{pattern}", recursive=True))


data_files = [
    ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
    (f"share/{PACKAGE}", ["package.xml"]),
    (f"share/{PACKAGE}/launch", _tree("launch", "*.py")),
    (f"share/{PACKAGE}/urdf", _tree("urdf", "*.urdf")),
]
for sub in sorted({p.rsplit("/", 1)[0] for p in _tree("config", "**/*.yaml")}):
    data_files.append((f"share/{PACKAGE}/{sub}", _tree(sub, "*.yaml")))

# What the code imports (test/test_packaging.py holds the sources to these lists). Versions
# are pinned in requirements.txt; here, the ranges the code works with. torch is exact: install
# the CPU wheel first (README), since a looser pin pulls the CUDA build from PyPI.
LEARNING = [
    "torch==2.13.0",
    "numpy>=2.0",
    "transforms3d>=0.4",
    "mujoco==3.17.0",
    "dm-control==1.0.50",  # needs exactly this mujoco
    "safetensors>=0.4",
    "PyYAML>=6.0",
    "tqdm>=4.60",
    "rosbags>=0.10",
    "lz4>=4.0",
    "matplotlib>=3.7",
    "imageio>=2.30",
    "imageio-ffmpeg>=0.4",
    "pillow>=10",
    "tensorboard>=2.14",
    "gymnasium>=1.0",
]
# ROS 2 from PyPI wheels, for a venv without a ROS install (native installs: rosdep and
# package.xml). Module -> wheel: rclpy -> ros-rclpy, std_msgs -> ros-std-msgs, ...
ROS_WHEELS = [
    "ros-rclpy", "ros-rmw-fastrtps-cpp", "ros-std-msgs", "ros-sensor-msgs", "ros-trajectory-msgs",
    "ros-geometry-msgs", "ros-diagnostic-msgs", "ros-lifecycle-msgs", "ros-rcl-lifecycle",
    "ros-std-srvs", "ros-rosgraph-msgs", "ros-builtin-interfaces",
]  # fmt: skip

setup(
    name=PACKAGE,
    version="0.1.0",
    package_dir={"": "src"},
    packages=find_packages("src", exclude=["test*"]),
    package_data={"m3po_learning": ["assets/**/*", "assets/*"]},
    data_files=data_files,
    python_requires=">=3.10",
    install_requires=["setuptools", *LEARNING],
    extras_require={
        "ros": ROS_WHEELS,
        "test": ["pytest>=8", "pytest-timeout>=2", "hypothesis>=6.100", "stable-baselines3>=2.3"],
    },
    zip_safe=False,
    maintainer="M3PO-ROS team",
    maintainer_email="m3po-ros@example.org",
    description="Multi-task model-based RL (M3PO) as a ROS 2 control stack.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "m3po = m3po_learning.cli:main",
            "controller_node = m3po_ros.controller_node:main",
            "sim_node = m3po_ros.sim_node:main",
            "learner_node = m3po_ros.learner_node:main",
        ],
        "m3po.commands": [
            "bringup = m3po_ros.cli_bringup",
            "record = m3po_ros.cli_record",
        ],
    },
)
