"""The mission state machine: one enum, one table of legal edges, one transition function.

::

    planned -> uploading -> launching -> en_route -> on_scene -> returning -> landed
    any non-terminal state -> aborted (operator abort: the drone returns home) | failed (with reason)

Extra edges that real flights need:

* ``en_route -> returning``: the vehicle went home before reaching the scene (link-loss failsafe,
  low battery, RTL by the pilot);
* ``en_route | on_scene -> landed``: "land now" or a failsafe landing away from home;
* ``on_scene | returning -> en_route``: the operator redirected the drone to a new point.

``landed``, ``aborted`` and ``failed`` are terminal. Whether the *drone* is still in the air after an
abort is a telemetry fact, not a mission state.
"""

from __future__ import annotations

import enum

__all__ = ["MissionState", "IllegalTransition", "TERMINAL", "ACTIVE", "LEGAL", "transition"]


class MissionState(enum.StrEnum):
    PLANNED = "planned"
    UPLOADING = "uploading"
    LAUNCHING = "launching"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    RETURNING = "returning"
    LANDED = "landed"
    ABORTED = "aborted"
    FAILED = "failed"


S = MissionState

TERMINAL: frozenset[MissionState] = frozenset({S.LANDED, S.ABORTED, S.FAILED})
ACTIVE: frozenset[MissionState] = frozenset(set(S) - TERMINAL)

LEGAL: dict[MissionState, frozenset[MissionState]] = {
    S.PLANNED: frozenset({S.UPLOADING, S.ABORTED, S.FAILED}),
    S.UPLOADING: frozenset({S.LAUNCHING, S.ABORTED, S.FAILED}),
    S.LAUNCHING: frozenset({S.EN_ROUTE, S.ABORTED, S.FAILED}),
    S.EN_ROUTE: frozenset({S.ON_SCENE, S.RETURNING, S.LANDED, S.ABORTED, S.FAILED}),
    S.ON_SCENE: frozenset({S.RETURNING, S.LANDED, S.EN_ROUTE, S.ABORTED, S.FAILED}),
    S.RETURNING: frozenset({S.LANDED, S.EN_ROUTE, S.ABORTED, S.FAILED}),
    S.LANDED: frozenset(),
    S.ABORTED: frozenset(),
    S.FAILED: frozenset(),
}


class IllegalTransition(Exception):
    """A move the state machine does not allow."""

    def __init__(self, current: MissionState, target: MissionState) -> None:
        super().__init__(f"illegal mission transition {current.value} -> {target.value}")
        self.current = current
        self.target = target


def transition(current: MissionState, target: MissionState) -> MissionState:
    """Return ``target`` if ``current -> target`` is legal.

    Raises
    ------
    IllegalTransition
        For every move not in :data:`LEGAL` (including staying put and leaving a terminal state).

    Examples
    --------
    >>> transition(MissionState.PLANNED, MissionState.UPLOADING)
    <MissionState.UPLOADING: 'uploading'>
    """
    if target not in LEGAL[current]:
        raise IllegalTransition(current, target)
    return target
