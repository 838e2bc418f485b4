"""The simulated vehicle: a pure, deterministic model of a PX4 multicopter. No I/O.

CONTRACT (pinned so that sim's MAVLink services and the model can be built in parallel; the model's
owner fills in the bodies and may add members, but must not change these signatures):

* Time advances only through :meth:`Vehicle.step`; ``time_us`` is simulated time since boot.
* Commands answer a :class:`CommandOutcome` at once (MAV_RESULT value + reason text). A command that
  PX4 would take time to finish is ACCEPTED (or IN_PROGRESS where PX4 sends that) and then carried
  out by later steps.
* Everything the MAVLink layer must tell the GCS unprompted comes out of :meth:`drain_events`, in
  order: HEARTBEAT-worthy changes (arm/mode), mission item reached, current mission item changed,
  status texts.
* Faults are set on the model (GPS loss, battery level, reject next command, reboot); link loss is
  done by the link layer, and the model sees it as missing GCS heartbeats (:meth:`gcs_heartbeat`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sim.items import Item
from sim.params import Params

__all__ = [
    "Vehicle",
    "VehicleState",
    "CommandOutcome",
    "MavResult",
    "LandedState",
    "MainMode",
    "AutoSub",
    "Event",
    "ModeChanged",
    "ArmedChanged",
    "ItemReached",
    "CurrentItemChanged",
    "StatusText",
    "Home",
]


class MavResult(enum.IntEnum):
    ACCEPTED = 0
    TEMPORARILY_REJECTED = 1
    DENIED = 2
    UNSUPPORTED = 3
    FAILED = 4
    IN_PROGRESS = 5


class LandedState(enum.IntEnum):
    UNDEFINED = 0
    ON_GROUND = 1
    IN_AIR = 2
    TAKEOFF = 3
    LANDING = 4


class MainMode(enum.IntEnum):
    """PX4 main modes (custom_mode bits 16-23)."""

    MANUAL = 1
    ALTCTL = 2
    POSCTL = 3
    AUTO = 4
    ACRO = 5
    OFFBOARD = 6
    STABILIZED = 7


class AutoSub(enum.IntEnum):
    """PX4 AUTO sub modes (custom_mode bits 24-31); 0 for non-AUTO main modes."""

    NONE = 0
    READY = 1
    TAKEOFF = 2
    LOITER = 3  # "Hold"
    MISSION = 4
    RTL = 5
    LAND = 6
    FOLLOW_TARGET = 8
    PRECLAND = 9


@dataclass(frozen=True, slots=True)
class Home:
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    result: MavResult
    reason: str = ""  # sent as STATUSTEXT when not ACCEPTED/IN_PROGRESS

    @property
    def ok(self) -> bool:
        return self.result in (MavResult.ACCEPTED, MavResult.IN_PROGRESS)


@dataclass(frozen=True, slots=True)
class VehicleState:
    """The vehicle's true state (what a test may compare the telemetry against)."""

    time_us: int
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    alt_rel_m: float  # above home
    vn_m_s: float
    ve_m_s: float
    vd_m_s: float
    heading_deg: float  # 0..360, yaw toward travel
    roll_rad: float
    pitch_rad: float
    armed: bool
    main_mode: MainMode
    sub_mode: AutoSub
    landed_state: LandedState
    battery_pct: float  # 0..100
    battery_voltage_v: float
    battery_current_a: float
    gps_ok: bool  # receiver has a fix (False while a GPS-loss fault is active)
    position_ok: bool  # estimator converged and gps_ok (False for the first seconds after boot)
    home: Home
    mission_current: int  # -1 when no mission
    mission_count: int
    mission_finished: bool
    geofence_breached: bool

    @property
    def custom_mode(self) -> int:
        return (int(self.main_mode) << 16) | (int(self.sub_mode) << 24)


class Event:
    """Base of things the MAVLink layer must announce."""


@dataclass(frozen=True, slots=True)
class ModeChanged(Event):
    main_mode: MainMode
    sub_mode: AutoSub


@dataclass(frozen=True, slots=True)
class ArmedChanged(Event):
    armed: bool


@dataclass(frozen=True, slots=True)
class ItemReached(Event):
    seq: int


@dataclass(frozen=True, slots=True)
class CurrentItemChanged(Event):
    seq: int


@dataclass(frozen=True, slots=True)
class StatusText(Event):
    severity: int  # MAV_SEVERITY (0 emergency .. 7 debug)
    text: str


class Vehicle:
    """A PX4-like quadrotor. All distances in metres, angles in degrees unless named *_rad."""

    def __init__(self, home: Home, *, params: Params | None = None, seed: int = 0) -> None:
        raise NotImplementedError

    # -- time -----------------------------------------------------------------------------------
    def step(self, dt_s: float) -> None:
        """Advance simulated time by ``dt_s`` (the caller splits large steps; <= 0.05 s each)."""
        raise NotImplementedError

    @property
    def time_us(self) -> int:
        raise NotImplementedError

    @property
    def state(self) -> VehicleState:
        raise NotImplementedError

    @property
    def params(self) -> Params:
        raise NotImplementedError

    def drain_events(self) -> list[Event]:
        raise NotImplementedError

    # -- link -----------------------------------------------------------------------------------
    def gcs_heartbeat(self) -> None:
        """A GCS heartbeat arrived now (resets the data-link-loss timer COM_DL_LOSS_T)."""
        raise NotImplementedError

    # -- commands (MAV_CMD) ---------------------------------------------------------------------
    def arm(self, *, force: bool = False) -> CommandOutcome:
        raise NotImplementedError

    def disarm(self, *, force: bool = False) -> CommandOutcome:
        raise NotImplementedError

    def takeoff(self, alt_rel_m: float | None = None) -> CommandOutcome:
        """NAV_TAKEOFF; ``None`` (NaN on the wire) means MIS_TAKEOFF_ALT. Ends in HOLD."""
        raise NotImplementedError

    def land(self) -> CommandOutcome:
        raise NotImplementedError

    def return_to_launch(self) -> CommandOutcome:
        raise NotImplementedError

    def set_mode(self, main_mode: MainMode, sub_mode: AutoSub = AutoSub.NONE) -> CommandOutcome:
        """DO_SET_MODE / SET_MODE with PX4 custom main/sub mode."""
        raise NotImplementedError

    def start_mission(self, first_item: int | None = None) -> CommandOutcome:
        """MISSION_START (also reachable as set_mode(AUTO, MISSION))."""
        raise NotImplementedError

    def reposition(
        self, lat_deg: float, lon_deg: float, alt_amsl_m: float | None, yaw_deg: float | None = None
    ) -> CommandOutcome:
        """DO_REPOSITION (goto): switch to HOLD at the new point; NaN/None keeps that coordinate."""
        raise NotImplementedError

    def change_speed(self, speed_m_s: float) -> CommandOutcome:
        raise NotImplementedError

    def orbit(
        self, radius_m: float, velocity_m_s: float, lat_deg: float | None, lon_deg: float | None,
        alt_amsl_m: float | None,
    ) -> CommandOutcome:
        raise NotImplementedError

    def follow_target_update(
        self, lat_deg: float, lon_deg: float, alt_amsl_m: float, vn_m_s: float, ve_m_s: float
    ) -> None:
        """FOLLOW_TARGET message content (used while in AUTO.FOLLOW_TARGET)."""
        raise NotImplementedError

    # -- stored plans (mission, fence, rally) -------------------------------------------------
    def set_items(self, mission_type: int, items: Sequence[Item]) -> MavResult:
        """Store a complete uploaded list (after the upload handshake). Fence items are validated."""
        raise NotImplementedError

    def items(self, mission_type: int) -> list[Item]:
        raise NotImplementedError

    def clear_items(self, mission_type: int) -> None:
        raise NotImplementedError

    def set_current_item(self, seq: int) -> MavResult:
        raise NotImplementedError

    # -- faults -------------------------------------------------------------------------------
    def set_gps_lost(self, lost: bool) -> None:
        raise NotImplementedError

    def set_battery_pct(self, pct: float) -> None:
        raise NotImplementedError

    def reject_next_command(self) -> None:
        """The next command is answered TEMPORARILY_REJECTED (then normal service resumes)."""
        raise NotImplementedError

    def reboot(self) -> None:
        """Back to the boot state at home: disarmed, estimator not converged, mission kept."""
        raise NotImplementedError
