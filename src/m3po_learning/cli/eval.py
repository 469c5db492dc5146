"""`m3po eval`: evaluate a checkpoint per task, optionally on reality-gap variants, with video."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from m3po_learning.cli.common import task_list


def add_parser(sub) -> None:
    """Register `m3po eval` on the subparsers action `sub`."""
    p = sub.add_parser(
        "eval",
        help="evaluate a checkpoint",
        description="Run a checkpoint on its tasks and print the mean return.",
    )
    p.add_argument(
        "--checkpoint",
        required=True,
        metavar="DIR",
        help="checkpoint directory or run directory (uses checkpoints/latest)",
    )
    p.add_argument(
        "--tasks",
        type=task_list,
        metavar="TASK[,TASK...]",
        help="comma-separated subset of the checkpoint's tasks",
    )
    p.add_argument("--episodes", type=int, default=3, help="episodes per task (default 3)")
    p.add_argument("--policy-only", action="store_true", help="act with the policy, no planning")
    p.add_argument("--budget-ms", type=float, default=None, help="planner time budget per step")
    p.add_argument(
        "--reality-gap",
        metavar="VARIANT",
        help="evaluate on a named reality-gap variant (e.g. heavy, delayed, all)",
    )
    p.add_argument("--video", metavar="DIR", help="write one video per task and a contact sheet")
    p.add_argument(
        "--video-format",
        choices=("mp4", "gif"),
        default="mp4",
        help="video container (default mp4)",
    )
    p.add_argument(
        "--video-quality",
        choices=("fast", "full"),
        default="fast",
        help="fast: no shadows or reflections, ~7x faster without a GPU (default); full: "
        "MuJoCo's default look",
    )
    p.add_argument(
        "--baseline",
        choices=("random", "zero"),
        help="also evaluate uniformly random or all-zero actions on the same tasks, seeds and "
        "reality gap, printed beside the agent's return (in --json: 'baseline': {kind, returns})",
    )
    p.add_argument("--json", metavar="FILE", help="also write the returns as JSON")
    p.add_argument("--seed", type=int, default=10_000, help="evaluation seed")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="runtime overrides, e.g. planner.iterations=4 (model keys are refused)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate the checkpoint, print the returns, optionally write JSON and videos."""
    if args.video:  # before mujoco is imported, and before an evaluation that could not end
        from m3po_learning.gl_backend import GLBackendError, ensure_offscreen_gl

        try:
            backend = ensure_offscreen_gl()
        except GLBackendError as exc:
            raise ValueError(str(exc)) from exc
        print(f"rendering with MUJOCO_GL={backend}", file=sys.stderr)
    from m3po_learning.checkpoint import load_agent
    from m3po_learning.cli.train import print_returns
    from m3po_learning.evaluation import evaluate
    from m3po_learning.threads import configure_threads

    configure_threads(0)  # one thread per idle core: fast alone, no collapse beside a job

    if args.episodes <= 0:
        raise ValueError(f"--episodes={args.episodes} must be > 0")
    agent = load_agent(args.checkpoint, overrides=args.overrides)
    success: dict[str, float] = {}
    returns = evaluate(
        agent,
        args.tasks,
        episodes=args.episodes,
        seed=args.seed,
        use_planner=not args.policy_only,
        reality_gap=args.reality_gap,
        budget_ms=args.budget_ms,
        progress=True,
        success=success,
    )
    title = f"{agent.checkpoint_path} ({'policy' if args.policy_only else 'planner'}"
    title += f", reality gap {args.reality_gap})" if args.reality_gap else ")"
    baseline = None
    if args.baseline:
        from m3po_learning.evaluation import baseline_returns

        baseline = baseline_returns(
            list(returns), args.baseline, args.episodes, args.seed, args.reality_gap
        )
    print_returns(returns, title, baseline, args.baseline or "random", success)
    if args.json:
        payload = dict(returns)
        if success:
            payload["success"] = success
        if baseline is not None:
            payload["baseline"] = {"kind": args.baseline, "returns": baseline}
        Path(args.json).write_text(json.dumps(payload, indent=1))
    if args.video:
        from m3po_learning.envs import record_videos

        def policy_for(task):
            def act(obs):
                padded = agent.pad_obs(obs, task)[None]
                # --budget-ms: planning stops that long after the step starts
                deadline = None
                if args.budget_ms is not None:
                    deadline = time.perf_counter() + args.budget_ms * 1e-3
                out = agent.act(
                    padded,
                    [task],
                    explore=False,
                    use_planner=not args.policy_only,
                    deadline=deadline,
                )
                return out.action[0]

            agent.reset_warm_start()
            return act

        paths = record_videos(
            args.tasks or agent.tasks,
            Path(args.video),
            policy_for,
            fmt=args.video_format,
            reality_gap=args.reality_gap,
            quality=args.video_quality,
        )
        for p in paths.values():
            print(f"wrote {p}")
    return 0
