"""`learner_node`: trains M3PO in a background thread and announces every checkpoint."""

from __future__ import annotations

import sys
import threading

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String

from m3po_ros.controller_node import CHECKPOINT_QOS
from m3po_ros.diagnostics import ERROR, OK, make_array, make_status
from m3po_ros.params import LearnerParams, ParamError, declare_from_dataclass


class LearnerNode(Node):
    """Runs `build_trainer(...).train()` off the executor thread.

    Checkpoints are written atomically by the trainer; after each one the node publishes its
    path on `announce_topic` (latched: reliable, transient local), where controllers with
    `follow_learner` pick it up. Training data comes from the trainer's in-process MuJoCo
    environments (the tasks of the training config).
    """

    def __init__(self, node_name: str = "learner", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self.params = declare_from_dataclass(self, LearnerParams)
        self.trainer = None
        self.checkpoints: list[str] = []
        self.error = ""
        self.finished = False
        self._stop = threading.Event()
        self._announce_pub = self.create_publisher(
            String, self.params.announce_topic, CHECKPOINT_QOS
        )
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(self.params.diagnostics_period_s, self._publish_diagnostics)
        self._thread = threading.Thread(target=self._train, daemon=True, name="learner")
        self._thread.start()

    def _train(self) -> None:
        from m3po_learning.checkpoint import CheckpointError
        from m3po_learning.config import ConfigError, load_config
        from m3po_learning.trainer import build_trainer

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
            self.get_logger().info(f"training finished at step {trainer.step}")
        except (ConfigError, CheckpointError, ValueError, RuntimeError, OSError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.get_logger().error(f"training stopped: {self.error}")
        finally:
            self.finished = True

    def _announce(self, path) -> None:
        self.checkpoints.append(str(path))
        self._announce_pub.publish(String(data=str(path)))
        self.get_logger().info(f"checkpoint {path}")

    def stop_training(self, timeout_s: float = 30.0) -> None:
        """Ask the trainer to stop after its current segment and wait for it."""
        self._stop.set()
        if self.trainer is not None:
            self.trainer.stop_requested = True
        self._thread.join(timeout=timeout_s)

    def destroy_node(self) -> None:
        self.stop_training()
        super().destroy_node()

    def _publish_diagnostics(self) -> None:
        t = self.trainer
        values = {
            "step": t.step if t else 0,
            "target_steps": t.cfg.train.steps if t else 0,
            "episodes": t.episodes if t else 0,
            "checkpoints": len(self.checkpoints),
            "last_checkpoint": self.checkpoints[-1] if self.checkpoints else "",
            "last_eval": t.last_eval if t else {},
            "finished": self.finished,
            "error": self.error,
        }
        level, text = (
            (ERROR, self.error)
            if self.error
            else (OK, "finished" if self.finished else "training")
        )
        status = make_status(
            f"{self.get_fully_qualified_name()}: learner", "m3po_learner", level, text, values
        )
        self._diag_pub.publish(make_array(self.get_clock().now().to_msg(), status))


def main(args: list[str] | None = None) -> int:
    """Entry point of `ros2 run m3po_ros learner_node`."""
    rclpy.init(args=args)
    try:
        node = LearnerNode()
    except ParamError as exc:
        print(f"learner_node: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
