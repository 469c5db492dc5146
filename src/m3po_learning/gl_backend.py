"""Pick an offscreen OpenGL backend for MuJoCo rendering before mujoco is imported.

MuJoCo reads MUJOCO_GL once, when it is first imported: unset on a machine without a display
it tries GLFW, which needs X11, and rendering fails after the whole evaluation has run. So a
command that will render calls `ensure_offscreen_gl()` first: with MUJOCO_GL unset it tries
egl, then osmesa (then glfw when a display is there), each in a child process that creates a
small context, and sets the first that works; with MUJOCO_GL set it checks that one. No
backend working is a GLBackendError naming the fix, raised before any work is done.
"""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = "import mujoco; c = mujoco.GLContext(32, 32); c.make_current(); c.free(); print('ok')"


class GLBackendError(RuntimeError):
    """No offscreen OpenGL backend works here (the message says what to install or set)."""


def backend_works(name: str, timeout_s: float = 60.0) -> tuple[bool, str]:
    """Whether MUJOCO_GL=`name` creates a context here (in a child process), and its error."""
    env = dict(os.environ, MUJOCO_GL=name)
    if name == "egl":
        env.setdefault("PYOPENGL_PLATFORM", "egl")
    elif name == "osmesa":
        env.setdefault("PYOPENGL_PLATFORM", "osmesa")
    try:
        done = subprocess.run(
            [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
            timeout=timeout_s,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return False, f"no context within {timeout_s:.0f} s"
    last = (done.stderr.strip().splitlines() or [""])[-1]
    return done.returncode == 0 and "ok" in done.stdout, last


def ensure_offscreen_gl() -> str:
    """Set MUJOCO_GL to a backend that renders here (or check the one set); return it.

    Raises:
        GLBackendError: none works; the message lists what was tried and the fix.
    """
    if "mujoco" in sys.modules and os.environ.get("MUJOCO_GL"):
        return os.environ["MUJOCO_GL"]  # already imported with a backend: nothing to change
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        ok, why = backend_works(chosen)
        if ok:
            return chosen
        raise GLBackendError(
            f"MUJOCO_GL={chosen} cannot create an OpenGL context here ({why}); unset it to let "
            "m3po choose, or set MUJOCO_GL=egl (libegl1, GPU or Mesa) or MUJOCO_GL=osmesa "
            "(libosmesa6, software)"
        )
    tried = []
    candidates = ["egl", "osmesa"] + (["glfw"] if os.environ.get("DISPLAY") else [])
    for name in candidates:
        ok, why = backend_works(name)
        if ok:
            os.environ["MUJOCO_GL"] = name
            if name in ("egl", "osmesa"):
                os.environ.setdefault("PYOPENGL_PLATFORM", name)
            return name
        tried.append(f"{name}: {why}")
    raise GLBackendError(
        "no OpenGL backend can render offscreen here (tried "
        + "; ".join(tried)
        + "): install libegl1 (EGL: GPU or Mesa) or libosmesa6 (software), or run with a "
        "display"
    )
