"""One submission's sandbox as text: the grader writes it into :data:`SANDBOX_ENV` for the
submission's nbgrader process, which reads it back with :func:`current`.

An environment variable because nbgrader starts kernels in a process of its own (behind
``unshare`` for a grader without root), which the grader can reach only through its environment.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from grading.sandbox.bounds import Bounds
from grading.sandbox.limits import Limits
from grading.sandbox.ways import bounds

SANDBOX_ENV = "GRADING_SANDBOX"


@dataclass
class Sandbox:
    """One submission's sandbox: its bounds, limits and what its kernels may read."""

    group: dict  # the kernels' bounds (Bounds.to_dict())
    limits: Limits = field(default_factory=Limits)
    read_only: list[str] = field(default_factory=list)  # extra paths to show read-only (the data)
    checker_group: dict | None = None  # the checker's bounds
    mounts: str | None = None  # the folder of the submission's private mounts (see mounts_folder)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> Sandbox:
        data = json.loads(text)
        return cls(data["group"], Limits(**data["limits"]), data["read_only"], data.get("checker_group"),
                   data.get("mounts"))

    def kernels(self) -> Bounds:
        return bounds(self.group)

    def checker(self) -> Bounds | None:
        return bounds(self.checker_group) if self.checker_group else None


def current() -> Sandbox | None:
    """The sandbox this nbgrader process grades in, or None outside one."""
    text = os.environ.get(SANDBOX_ENV)
    return Sandbox.from_env(text) if text else None
