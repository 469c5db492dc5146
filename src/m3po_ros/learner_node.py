"""`learner_node`: trains M3PO in a background thread and announces every checkpoint.

It also ingests episodes sent over ROS and fine-tunes on rosbags dropped into a watched
directory.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray, String

from m3po_ros import topics
from m3po_ros.bag_watch import STATE_FILE, BagWatcher, read_state
from m3po_ros.diagnostics import ERROR, OK, WARN, make_array, make_status
from m3po_ros.node_main import spin_node
from m3po_ros.params import LearnerParams, declare_from_dataclass
from m3po_ros.qos import CHECKPOINT_QOS, DIAGNOSTICS_QOS, TRANSITIONS_QOS
from m3po_ros.transitions import TransitionError, msg_to_episode


class LearnerNode(Node):
    """Trains and fine-tunes off the executor thread; announces each checkpoint.

    * `mode: train` runs `build_trainer(...).train()` in a background thread. Episodes sent on
      `transitions_topic` (std_msgs/Float64MultiArray, `m3po_ros.transitions`) by sim nodes
      with `publish_transitions` or by robots go to `trainer.add_external_episode`, which
      merges them into replay (their own streams) between segments. Malformed or unknown-task
      episodes are logged and counted, never fatal. When training ends and `bag_dir` is set,
      the node goes on watching bags with the trained agent.
    * `mode: finetune` does not train in-process: it loads `out_dir`'s latest checkpoint
      (or `checkpoint`) and watches `bag_dir` from the start.

    Bag fine-tuning never runs while the trainer trains, so the two never share the agent.
    For every new complete bag in `bag_dir` the agent is fine-tuned with
    `finetune_from_bags` (`bag_finetune_steps` steps, task `bag_task`), saved atomically to
    `out_dir/checkpoints/bag_<step>` (+ `latest`) and announced. A bag that cannot be used is
    logged, counted and skipped; the agent and every checkpoint already written stay as they
    were. Handled bags are remembered in `out_dir/bag_watch.json`.

    Checkpoints are announced on `announce_topic` (latched: reliable, transient local), where
    controllers with `follow_learner` pick them up.
    """

    def __init__(self, node_name: str = "learner", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        # What destroy_node() needs exists before parameters are checked (a refused node is
        # still destroyed with its context).
        self.trainer = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.params = declare_from_dataclass(self, LearnerParams)
        self.agent = None  # the agent bag fine-tuning works on
        self.checkpoints: list[str] = []
        self.error = ""
        self.finished = False  # in-process training over (or not run: mode finetune)
        self.episodes_received = 0
        self.episodes_rejected = 0
        self.steps_received = 0
        self.last_reject = ""
        self.bags_done: list[str] = []
        self.bags_failed: list[str] = []
        self.last_bag_error = ""
        self.bag_state = "off" if not self.params.bag_dir else "waiting"
        self._announce_pub = self.create_publisher(
            String, self.params.announce_topic, CHECKPOINT_QOS
        )
        self._diag_pub = self.create_publisher(
            DiagnosticArray, topics.DIAGNOSTICS, DIAGNOSTICS_QOS
        )
        if self.params.transitions_topic:
            self.create_subscription(
                Float64MultiArray,
                self.params.transitions_topic,
                self._on_transitions,
                TRANSITIONS_QOS,
            )
        self.create_timer(self.params.diagnostics_period_s, self._publish_diagnostics)
        self._thread = threading.Thread(target=self._run, daemon=True, name="learner")
        self._thread.start()

    # -- in-process training ---------------------------------------------------------------------
    def _run(self) -> None:
        if self.params.mode == "train":
            self._train()
        else:
            self.finished = True
        if self.params.bag_dir and not self._stop.is_set() and not self.error:
            self._watch_bags()

    def _train(self) -> None:
        from m3po_learning.checkpoint import CheckpointError
        from m3po_learning.config import ConfigError, load_config
        from m3po_learning.training.online import build_trainer

        p = self.params
        try:
            overrides = p.overrides.split() + [
                f"train.out_dir={p.out_dir}",
                "train.tensorboard=false",
            ]
            cfg = load_config(p.config or None, overrides)
            trainer = build_trainer(cfg, p.out_dir, progress=False, resume=p.resume)
            trainer.on_checkpoint = self._announce
            self.trainer = trainer
            if self._stop.is_set():
                return
            self.get_logger().info(
                f"training {list(trainer.tasks)} for {cfg.train.steps} steps into {p.out_dir}"
            )
            trainer.train()
            self.agent = trainer.agent
            self.get_logger().info(f"training finished at step {trainer.step}")
        except (ConfigError, CheckpointError, ValueError, RuntimeError, OSError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.get_logger().error(f"training stopped: {self.error}")
        finally:
            self.finished = True

    def _on_transitions(self, msg: Float64MultiArray) -> None:
        trainer = self.trainer
        try:
            if trainer is None or self.finished:
                raise RuntimeError(
                    "the learner is not training in-process (not started yet, finished, "
                    "or mode=finetune): episode dropped"
                )
            ep = msg_to_episode(msg, tasks=trainer.tasks)
            trainer.add_external_episode(ep.task, ep.obs, ep.action, ep.reward, ep.terminated)
        except (TransitionError, KeyError, ValueError, RuntimeError) as exc:
            self.episodes_rejected += 1
            self.last_reject = f"{type(exc).__name__}: {exc}"
            self.get_logger().warning(
                f"transitions rejected: {self.last_reject}", throttle_duration_sec=2.0
            )
            return
        self.episodes_received += 1
        self.steps_received += ep.steps

    def _announce(self, path) -> None:
        self.checkpoints.append(str(path))
        self._announce_pub.publish(String(data=str(path)))
        self.get_logger().info(f"checkpoint {path}")

    # -- watched rosbag directory ----------------------------------------------------------------
    def _load_start_agent(self):
        from m3po_learning.checkpoint import load_agent

        p = self.params
        run_latest = Path(p.out_dir) / "checkpoints" / "latest"
        source = p.out_dir if (p.resume and run_latest.is_file()) else p.checkpoint
        if not source:
            raise ValueError(
                f"mode=finetune needs a checkpoint: out_dir {p.out_dir} has none and the "
                "'checkpoint' parameter is empty"
            )
        agent = load_agent(source, device=p.device, load_optimizer=True)
        self.get_logger().info(f"bag fine-tuning starts from {agent.checkpoint_path}")
        return agent

    def _state_path(self) -> Path:
        return Path(self.params.out_dir) / STATE_FILE

    def _watch_bags(self) -> None:
        p = self.params
        try:
            agent = self.agent or self._load_start_agent()
        except Exception as exc:  # noqa: BLE001 - any load failure ends watching, not the node
            self.error = f"{type(exc).__name__}: {exc}"
            self.bag_state = "error"
            self.get_logger().error(f"bag watching not started: {self.error}")
            return
        self.agent = agent
        self._bag_step = (
            self.trainer.step
            if self.trainer is not None
            else int(agent.checkpoint_meta.get("step", 0))
        )
        task = p.bag_task or agent.tasks[0]
        done = {}
        if p.resume:
            try:
                done = read_state(self._state_path())
            except (OSError, ValueError) as exc:
                self.get_logger().warning(f"{self._state_path()} unreadable ({exc}); ignored")
        watcher = BagWatcher(Path(p.bag_dir), p.bag_settle_s, done)
        self.bag_state = "watching"
        self.get_logger().info(f"watching {p.bag_dir} for {task} bags")
        reported: set[str] = set()
        while not self._stop.is_set():
            ready = watcher.ready()
            for why in set(watcher.refused.values()) - reported:
                self.get_logger().error(f"bag refused: {why}")
            reported = set(watcher.refused.values())
            for bag in ready:
                if self._stop.is_set():
                    return
                self._finetune_on(bag, task)
                watcher.mark(bag)
                watcher.save_state(self._state_path())
            self._stop.wait(p.bag_poll_s)

    def _finetune_on(self, bag: Path, task: str) -> None:
        from m3po_learning.checkpoint import save_run_checkpoint
        from m3po_learning.config import FinetuneConfig
        from m3po_learning.training.finetune import finetune_from_bags

        p = self.params
        self.bag_state = f"fine-tuning on {bag.name}"
        self.get_logger().info(f"new bag {bag}: fine-tuning {task} for {p.bag_finetune_steps}")
        try:
            result = finetune_from_bags(
                self.agent,
                [bag],
                task,
                config=FinetuneConfig(steps=p.bag_finetune_steps),
                progress=False,
            )
            step = self._bag_step + result.steps
            state = {"finetune": {**result.summary(), "bags": [str(bag)]}}
            path = save_run_checkpoint(
                p.out_dir, result.agent, step, state, prefix="bag", unique=True
            )
        except Exception as exc:  # noqa: BLE001 - a bad bag must never stop the learner
            self.bags_failed.append(str(bag))
            self.last_bag_error = f"{bag}: {type(exc).__name__}: {exc}"
            self.get_logger().error(f"bag skipped: {self.last_bag_error}")
            self.bag_state = "watching"
            return
        self.agent, self._bag_step = result.agent, step
        self.bags_done.append(str(bag))
        before = result.heldout_before.get("fit", float("nan"))
        after = result.heldout_after.get("fit", float("nan"))
        self.get_logger().info(
            f"fine-tuned on {bag.name}: {result.train_transitions} transitions, "
            f"held-out fit loss {before:.4g} -> {after:.4g}"
        )
        self.bag_state = "watching"
        self._announce(path)

    # -- lifecycle ------------------------------------------------------------------------------
    def stop_training(self, timeout_s: float = 30.0) -> None:
        """Ask the trainer (or bag watcher) to stop after its current piece and wait for it."""
        self._stop.set()
        if self.trainer is not None:
            self.trainer.stop_requested = True
        if self._thread is None:
            return
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            self.get_logger().error(f"the learner thread did not stop within {timeout_s} s")

    def destroy_node(self) -> None:
        """Stop the learner thread (up to 30 s), then destroy the node."""
        self.stop_training()
        super().destroy_node()

    def _publish_diagnostics(self) -> None:
        t = self.trainer
        values = {
            "mode": self.params.mode,
            "step": t.step if t else 0,
            "target_steps": t.cfg.train.steps if t else 0,
            "episodes": t.episodes if t else 0,
            "checkpoints": len(self.checkpoints),
            "last_checkpoint": self.checkpoints[-1] if self.checkpoints else "",
            "last_eval": t.last_eval if t else {},
            "external_episodes": self.episodes_received,
            "external_steps_received": self.steps_received,
            "external_steps_in_replay": t.external_steps if t else 0,
            "external_rejected": self.episodes_rejected,
            "last_reject": self.last_reject,
            "bag_watch": self.bag_state,
            "bags_finetuned": len(self.bags_done),
            "bags_failed": len(self.bags_failed),
            "last_bag_error": self.last_bag_error,
            "finished": self.finished,
            "error": self.error,
        }
        if self.error:
            level, text = ERROR, self.error
        elif self.episodes_rejected or self.bags_failed:
            level, text = WARN, "rejected input (see last_reject / last_bag_error)"
        elif not self.finished:
            level, text = OK, "training"
        else:
            level, text = OK, "finished" if self.bag_state == "off" else self.bag_state
        status = make_status(
            f"{self.get_fully_qualified_name()}: learner", "m3po_learner", level, text, values
        )
        self._diag_pub.publish(make_array(self.get_clock().now().to_msg(), status))


def main(args: list[str] | None = None) -> int:
    """Entry point of `ros2 run m3po_ros learner_node`."""
    return spin_node(LearnerNode, "learner_node", args)


if __name__ == "__main__":
    sys.exit(main())
