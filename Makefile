# M3PO-ROS: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# DDS discovery never leaves loopback; tests pick their own ROS_DOMAIN_ID.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export RMW_IMPLEMENTATION := rmw_fastrtps_cpp
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED := 1

.PHONY: setup demo test test-learning test-install lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt constraints.txt setup.py setup.cfg pyproject.toml
	@# Offscreen rendering needs an EGL driver (Mesa); install it where it is missing.
	@ldconfig -p | grep -q libEGL_mesa || { command -v apt-get >/dev/null && \
		apt-get update -qq && apt-get install -y -qq libegl1 libegl-mesa0 libgl1 >/dev/null; } || \
		echo "warning: no EGL driver; set MUJOCO_GL=osmesa for video"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and exactly pinned: anything looser pulls CUDA wheels.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -r requirements.txt
	@# MetaWorld pins mujoco 3.3.0; dm-control needs 3.17.0. Installed without its pin, with
	@# its real dependencies in requirements.txt; envs/metaworld.py adapts its one 3.17 break.
	$(PY) -m pip install -q -c constraints.txt --no-deps metaworld==3.1.1
	$(PY) -m pip install -q -c constraints.txt --no-deps -e .
	touch $(STAMP)

DEMO_RUN := runs/demo

# Train briefly, evaluate in MuJoCo, then close the loop over ROS 2: sim node + controller
# with the new checkpoint, one task at a time, reporting the closed-loop return per task.
demo: setup
	$(VENV)/bin/m3po demo --out $(DEMO_RUN)
	@export ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$(( $$$$ % 100 + 100 ))}; \
	for task in $$($(PY) -c "from m3po_learning.checkpoint import read_checkpoint; \
		print(*read_checkpoint('$(DEMO_RUN)').metadata['tasks'])"); do \
		echo "== closed loop over ROS 2: $$task"; \
		$(VENV)/bin/m3po bringup sim --checkpoint $(DEMO_RUN) --task $$task --duration 15 \
			|| exit 1; \
	done

test: setup
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$(( $$$$ % 100 + 100 ))} $(PY) -m pytest -q --durations=15 test -m "not learning_outcome and not install"

# The wheel in a clean venv with its declared dependencies (a few minutes; CI runs it).
test-install: setup
	$(PY) -m pytest -q test -m install

# Stochastic learning-outcome tests (deselected from `make test` by their marker).
test-learning: setup
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$(( $$$$ % 100 + 100 ))} $(PY) -m pytest -q test -m learning_outcome

lint: setup
	$(VENV)/bin/ruff check src test bench launch
	$(VENV)/bin/ruff format --check src test bench launch

bench: setup
	$(PY) bench/bench_planner.py
	$(PY) bench/bench_training.py

clean:
	rm -rf $(VENV) build install log runs
