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

setup(
    name=PACKAGE,
    version="0.1.0",
    package_dir={"": "src"},
    packages=find_packages("src", exclude=["test*"]),
    package_data={"m3po_learning": ["assets/**/*", "assets/*"]},
    data_files=data_files,
    install_requires=["setuptools"],
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
