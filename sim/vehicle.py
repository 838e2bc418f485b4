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

BEHAVIOUR (PX4 multicopter, checked against PX4's Commander/Navigator sources where noted)

* Boot: disarmed, POSCTL, on the ground; the estimator reports a position only after
  :data:`ESTIMATOR_CONVERGE_S` simulated seconds. Arming before that, or with GPS lost, critical
  battery, outside the geofence or in MISSION with an invalid mission is refused with
  TEMPORARILY_REJECTED and a STATUSTEXT "Arming denied: ..." (PX4's Commander answers a refused
  arm, and a refused mode switch "Switching to <mode> is currently not possible", with
  TEMPORARILY_REJECTED; MAVSDK maps both to COMMAND_DENIED). Home is set where the vehicle arms.
* Auto-disarm: COM_DISARM_PRFLT after arming without taking off, COM_DISARM_LAND after landing.
* Takeoff: accepted even disarmed (PX4 switches to AUTO.TAKEOFF and lifts off once armed); climbs
  at MPC_TKO_SPEED to MIS_TAKEOFF_ALT (or the given altitude), then AUTO.LOITER.
* Hold/reposition: fly at MPC_XY_CRUISE (or DO_CHANGE_SPEED) and hold; POSCTL holds in place.
* Mission: from the ground a vertical takeoff to max(MIS_TAKEOFF_ALT, first item altitude) first;
  NAV_WAYPOINT (acceptance radius param2 or NAV_ACC_RAD, NAV_MC_ALT_RAD vertically, hold param1),
  NAV_TAKEOFF, NAV_LAND, NAV_LOITER_TIME/UNLIM, NAV_DELAY, NAV_RETURN_TO_LAUNCH (switches to
  AUTO.RTL), DO_CHANGE_SPEED, DO_JUMP; other DO items are acknowledged and skipped. Frames 3/6/10/11
  are relative to home, 0/5 AMSL. After the last item: ``mission_finished`` and loiter there in
  MISSION (PX4); starting a finished mission restarts it at item 0. An upload identical to the
  stored mission keeps its progress (a finished one stays finished), as PX4 does; a changed list or
  MISSION_CLEAR_ALL resets it. MIS_DIST_1WP and fence checks
  reject a mission at start ("Mission rejected: ...", DENIED; "no mission" when empty).
* RTL: to home, or with RTL_TYPE 0/3 (PX4's default 0: "closest safe point") to the closest uploaded
  rally point when it is nearer than home; climb to RTL_RETURN_ALT (if further than RTL_MIN_DIST),
  return at cruise speed, descend to RTL_DESCEND_ALT, wait RTL_LAND_DELAY, land there. Land: MPC_Z_V_AUTO_DN above MPC_LAND_ALT1,
  MPC_LAND_SPEED below MPC_LAND_ALT2, linear between.
* Offboard: setpoints (velocity NED, or a position) stream in through :meth:`offboard_setpoint`;
  switching to OFFBOARD is refused unless one arrived within COM_OF_LOSS_T (as PX4), the vehicle
  then flies them (lifting off when armed on the ground and asked to climb), and when they stop
  for COM_OF_LOSS_T it leaves OFFBOARD as COM_OBL_RC_ACT says (without RC, PX4 falls back from the
  manual-mode choices 0-2 to Hold; 3 Return, 4 Land, 5 Hold, 6 terminate as land, 7 disarm).
* Orbit (DO_ORBIT) runs in POSCTL with sub mode 1 (PX4's POSCTL_ORBIT); follow target keeps
  FLW_TGT_DST at FLW_TGT_FA from the target's course, FLW_TGT_HT above home (FLW_TGT_ALT_M 0/1) or
  the target (2), predicting the target with its velocity between FOLLOW_TARGET messages.
* Failsafes: data-link loss after COM_DL_LOSS_T without GCS heartbeat, once a GCS was heard ->
  NAV_DLL_ACT (0 none, 1 hold, 2 RTL, 3 land, 5 terminate as land, 6 disarm); battery below
  BAT_LOW_THR / BAT_CRIT_THR / BAT_EMERGEN_THR -> COM_LOW_BAT_ACT (sim default 3: RTL at low, land
  at critical; see :mod:`sim.params`), each level once; geofence (fence items and GF_MAX_HOR_DIST /
  GF_MAX_VER_DIST) breach -> GF_ACTION (1 warn, 2 hold, 3 RTL, 4 terminate as land, 5 land);
  GPS loss in the air -> land (PX4's descend), position modes refused until GPS is back and
  :data:`GPS_RECOVER_S` have passed. Failsafe actions only act while armed in the air.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sim.battery import Battery
from sim.dynamics import PointMass, velocity_toward
from sim.geo import distance_m, ne_offset_m, offset_deg
from sim.geofence import Fence, FenceError
from sim.items import FENCE, MISSION, RALLY, Item
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
    "POSCTL_ORBIT_SUB",
    "ESTIMATOR_CONVERGE_S",
    "GPS_RECOVER_S",
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



def _item_key(it: Item) -> tuple[object, ...]:
    """An item's content for comparison: NaN equals NaN (MAVSDK sends NaN yaw), ``seq`` included."""
    return tuple("nan" if isinstance(v, float) and math.isnan(v) else v
                 for v in (it.seq, it.frame, it.command, it.param1, it.param2, it.param3, it.param4,
                           it.x, it.y, it.z, it.autocontinue))


def _same_items(a: Sequence[Item], b: Sequence[Item]) -> bool:
    """Whether two mission lists are the same mission (PX4: a re-upload that changes nothing)."""
    return len(a) == len(b) and all(_item_key(x) == _item_key(y) for x, y in zip(a, b, strict=True))


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


#: DO_ORBIT runs in PX4's POSCTL main mode with sub mode 1 (PX4_CUSTOM_SUB_MODE_POSCTL_ORBIT), which
#: has the same number as AUTO.READY in :class:`AutoSub`.
POSCTL_ORBIT_SUB = AutoSub(1)

#: Simulated seconds from boot (or reboot) until the estimator reports a valid position (PX4 SITL
#: takes ~7.5 s at 1x to be ready to arm; a few seconds is enough to exercise "arming denied").
ESTIMATOR_CONVERGE_S = 5.0
#: Simulated seconds the estimator needs to re-converge after GPS comes back.
GPS_RECOVER_S = 1.0

# MAV_CMD numbers the mission executor understands.
NAV_WAYPOINT = 16
NAV_LOITER_UNLIM = 17
NAV_LOITER_TURNS = 18
NAV_LOITER_TIME = 19
NAV_RETURN_TO_LAUNCH = 20
NAV_LAND = 21
NAV_TAKEOFF = 22
NAV_LOITER_TO_ALT = 31
NAV_DELAY = 93
DO_JUMP = 177
NAV_RALLY_POINT = 5100
DO_CHANGE_SPEED = 178
_NAV_POSITION_CMDS = frozenset({NAV_WAYPOINT, NAV_LOITER_UNLIM, NAV_LOITER_TURNS, NAV_LOITER_TIME,
                                NAV_LAND, NAV_TAKEOFF, NAV_LOITER_TO_ALT})
_REL_ALT_FRAMES = frozenset({3, 6, 10, 11})  # GLOBAL_RELATIVE_ALT(_INT), TERRAIN_ALT(_INT) ~ relative
_AMSL_FRAMES = frozenset({0, 5})

_MODE_NAMES = {
    (MainMode.POSCTL, AutoSub.NONE): "Position",
    (MainMode.POSCTL, POSCTL_ORBIT_SUB): "Orbit",
    (MainMode.AUTO, AutoSub.LOITER): "Hold",
    (MainMode.AUTO, AutoSub.TAKEOFF): "Takeoff",
    (MainMode.AUTO, AutoSub.MISSION): "Mission",
    (MainMode.AUTO, AutoSub.RTL): "Return",
    (MainMode.AUTO, AutoSub.LAND): "Land",
    (MainMode.AUTO, AutoSub.FOLLOW_TARGET): "Follow Target",
    (MainMode.AUTO, AutoSub.PRECLAND): "Precision Land",
    (MainMode.OFFBOARD, AutoSub.NONE): "Offboard",
    (MainMode.MANUAL, AutoSub.NONE): "Manual",
    (MainMode.ALTCTL, AutoSub.NONE): "Altitude",
    (MainMode.ACRO, AutoSub.NONE): "Acro",
    (MainMode.STABILIZED, AutoSub.NONE): "Stabilized",
}

# Severity numbers (MAV_SEVERITY).
SEV_EMERGENCY = 0
SEV_CRITICAL = 2
SEV_WARNING = 4
SEV_NOTICE = 5
SEV_INFO = 6

_NAN = float("nan")


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


class _P:
    """Parameter values the step loop reads, cached until the table changes (cheap steps)."""

    __slots__ = ("version", "cruise", "vel_max", "up", "dn", "auto_up", "auto_dn", "tko", "land",
                 "land_alt1", "land_alt2", "acc_hor", "acc_hor_max", "acc_up", "acc_dn", "yaw_rate", "acc_rad",
                 "alt_rad", "tko_alt", "rtl_alt", "rtl_desc", "rtl_delay", "rtl_min_dist",
                 "dll_act", "dl_loss_t", "disarm_land", "disarm_prflt", "low_bat_act", "bat_low",
                 "bat_crit", "bat_emerg", "gf_action", "gf_hor", "gf_ver", "flw_ht", "flw_dst",
                 "flw_fa", "flw_alt_mode", "dist_1wp", "ofb_loss_t", "obl_act")

    def __init__(self) -> None:
        self.version = -1

    def load(self, p: Params) -> None:
        g = p.get
        self.version = p.version
        self.cruise = g("MPC_XY_CRUISE")
        self.vel_max = g("MPC_XY_VEL_MAX")
        self.up = g("MPC_Z_VEL_MAX_UP")
        self.dn = g("MPC_Z_VEL_MAX_DN")
        self.auto_up = g("MPC_Z_V_AUTO_UP")
        self.auto_dn = g("MPC_Z_V_AUTO_DN")
        self.tko = g("MPC_TKO_SPEED")
        self.land = g("MPC_LAND_SPEED")
        self.land_alt1 = g("MPC_LAND_ALT1")
        self.land_alt2 = g("MPC_LAND_ALT2")
        self.acc_hor = g("MPC_ACC_HOR")
        self.acc_hor_max = g("MPC_ACC_HOR_MAX")
        self.acc_up = g("MPC_ACC_UP_MAX")
        self.acc_dn = g("MPC_ACC_DOWN_MAX")
        self.yaw_rate = g("MPC_YAWRAUTO_MAX")
        self.acc_rad = g("NAV_ACC_RAD")
        self.alt_rad = g("NAV_MC_ALT_RAD")
        self.tko_alt = g("MIS_TAKEOFF_ALT")
        self.dist_1wp = g("MIS_DIST_1WP")
        self.rtl_alt = g("RTL_RETURN_ALT")
        self.rtl_desc = g("RTL_DESCEND_ALT")
        self.rtl_delay = g("RTL_LAND_DELAY")
        self.rtl_min_dist = g("RTL_MIN_DIST")
        self.dll_act = int(g("NAV_DLL_ACT"))
        self.dl_loss_t = g("COM_DL_LOSS_T")
        self.disarm_land = g("COM_DISARM_LAND")
        self.disarm_prflt = g("COM_DISARM_PRFLT")
        self.low_bat_act = int(g("COM_LOW_BAT_ACT"))
        self.bat_low = g("BAT_LOW_THR")
        self.bat_crit = g("BAT_CRIT_THR")
        self.bat_emerg = g("BAT_EMERGEN_THR")
        self.gf_action = int(g("GF_ACTION"))
        self.gf_hor = g("GF_MAX_HOR_DIST")
        self.gf_ver = g("GF_MAX_VER_DIST")
        self.flw_ht = g("FLW_TGT_HT")
        self.flw_dst = g("FLW_TGT_DST")
        self.flw_fa = g("FLW_TGT_FA")
        self.flw_alt_mode = int(g("FLW_TGT_ALT_M"))
        self.ofb_loss_t = g("COM_OF_LOSS_T")
        self.obl_act = int(g("COM_OBL_RC_ACT"))


class Vehicle:
    """A PX4-like quadrotor. All distances in metres, angles in degrees unless named *_rad.

    Example
    -------
    >>> v = Vehicle(Home(47.397742, 8.545594, 488.0))
    >>> v.arm().result.name                      # estimator not converged yet
    'TEMPORARILY_REJECTED'
    >>> for _ in range(200): v.step(0.05)        # 10 s
    >>> v.arm().ok, v.takeoff().ok
    (True, True)
    >>> for _ in range(100): v.step(0.05)
    >>> v.state.sub_mode.name, round(v.state.alt_rel_m, 1)
    ('LOITER', 2.5)
    """

    def __init__(self, home: Home, *, params: Params | None = None, seed: int = 0) -> None:
        self._params = params if params is not None else Params.px4_defaults()
        self._p = _P()
        self._p.load(self._params)
        self._seed = seed  # the model is deterministic; kept for future noise models
        self._boot_home = home
        self._ground_amsl_m = home.alt_amsl_m
        self._plans: dict[int, list[Item]] = {MISSION: [], FENCE: [], RALLY: []}
        self._fence = Fence()
        self._battery = Battery(int(self._params.get("BAT1_N_CELLS")), self._params.get("BAT1_V_CHARGED"),
                                self._params.get("BAT1_V_EMPTY"),
                                max(1000.0, self._params.get("BAT1_CAPACITY")))
        self._gps_lost = False
        self._reject_next = False
        self._events: list[Event] = []
        self._boot(home)

    # -- boot -----------------------------------------------------------------------------------
    def _boot(self, home: Home) -> None:
        self._t_us = 0
        self._home = home
        self._pm = PointMass(home.lat_deg, home.lon_deg, home.alt_amsl_m)
        self._armed = False
        self._main = MainMode.POSCTL
        self._sub = AutoSub.NONE
        self._on_ground = True
        self._flew_since_arm = False
        self._armed_at_s = 0.0
        self._landed_at_s = 0.0
        self._taking_off = False
        self._landing = False
        self._est_ready_at_s = ESTIMATOR_CONVERGE_S
        self._gps_back_at_s = 0.0
        # behaviour state
        self._hold = (home.lat_deg, home.lon_deg, home.alt_amsl_m)
        self._hold_yaw: float | None = None
        self._takeoff_alt_amsl = home.alt_amsl_m
        self._speed_override: float | None = None
        self._rtl_phase = ""
        self._rtl_dest = (home.lat_deg, home.lon_deg)
        self._rtl_alt_amsl = 0.0
        self._rtl_loiter_until = 0.0
        self._follow: tuple[float, float, float, float, float, float] | None = None  # lat,lon,alt,vn,ve,t
        self._follow_course_deg = 0.0
        self._orbit = (0.0, 0.0, 0.0, 10.0, 1.0)  # lat, lon, alt, radius (signed), speed
        # offboard setpoint: (kind "vel"|"pos", a, b, c, yaw_deg or None, simulated time received);
        # "vel": vn, ve, vd m/s; "pos": lat, lon, alt AMSL
        self._ofb: tuple[str, float, float, float, float | None, float] | None = None
        # mission
        self._mis_cur = 0 if self._plans[MISSION] else -1
        self._mis_finished = False
        self._mis_phase = "idle"
        self._mis_until = 0.0
        self._mis_speed: float | None = None
        self._mis_jumps: dict[int, int] = {}
        self._mis_target = (0.0, 0.0, 0.0)
        # failsafes
        self._gcs_seen = False
        self._gcs_last_s = 0.0
        self._dl_lost = False
        self._bat_level = 0  # 0 ok, 1 low, 2 critical, 3 emergency: last level announced
        self._bat_acted = 0  # highest level acted on during this flight
        self._gf_breached = False
        self._gf_next_check_s = 0.0
        self._gps_failsafe = False

    # -- time -----------------------------------------------------------------------------------
    def step(self, dt_s: float) -> None:
        """Advance simulated time by ``dt_s`` (the caller splits large steps; <= 0.05 s each)."""
        if dt_s <= 0.0:
            return
        self._t_us += int(round(dt_s * 1e6))
        t = self._t_us * 1e-6
        p = self._p
        if p.version != self._params.version:
            p.load(self._params)
        pm = self._pm

        # --- guidance: velocity setpoint for the current behaviour ---
        vn = ve = vd = 0.0
        yaw: float | None = None
        if self._armed:
            if self._on_ground:
                want_up = self._wants_climb(t)
                if want_up:
                    self._on_ground = False
                    self._flew_since_arm = True
            if not self._on_ground:
                vn, ve, vd, yaw = self._guidance(t, dt_s)
        elif not self._on_ground:
            vd = 20.0  # motors off in the air: falls

        if self._on_ground:
            pm.vn_m_s = pm.ve_m_s = pm.vd_m_s = 0.0
            pm.roll_rad = pm.pitch_rad = 0.0
        else:
            acc_dn = p.acc_dn if self._armed else 9.81
            acc_hor = p.acc_hor_max if self._sub == AutoSub.FOLLOW_TARGET else p.acc_hor
            pm.step(dt_s, vn, ve, vd, yaw, acc_hor, p.acc_up, acc_dn, p.yaw_rate)
            if pm.alt_amsl_m <= self._ground_amsl_m and pm.vd_m_s >= 0.0:
                self._touch_down(t)

        # --- battery ---
        bat = self._battery
        bat.step(dt_s, bat.effort(self._armed, not self._on_ground, pm.ground_speed_m_s, -pm.vd_m_s))

        # --- auto-disarm ---
        if self._armed and self._on_ground:
            if self._flew_since_arm:
                if p.disarm_land > 0.0 and t - self._landed_at_s >= p.disarm_land:
                    self._set_armed(False, "Disarmed by landing")
            elif p.disarm_prflt > 0.0 and t - self._armed_at_s >= p.disarm_prflt:
                self._set_armed(False, "Disarmed by auto preflight disarming")

        self._failsafes(t)

    @property
    def time_us(self) -> int:
        return self._t_us

    @property
    def state(self) -> VehicleState:
        pm = self._pm
        bat = self._battery
        return VehicleState(
            time_us=self._t_us,
            lat_deg=pm.lat_deg,
            lon_deg=pm.lon_deg,
            alt_amsl_m=pm.alt_amsl_m,
            alt_rel_m=pm.alt_amsl_m - self._home.alt_amsl_m,
            vn_m_s=pm.vn_m_s,
            ve_m_s=pm.ve_m_s,
            vd_m_s=pm.vd_m_s,
            heading_deg=pm.yaw_deg,
            roll_rad=pm.roll_rad,
            pitch_rad=pm.pitch_rad,
            armed=self._armed,
            main_mode=self._main,
            sub_mode=self._sub,
            landed_state=self.landed_state,
            battery_pct=bat.remaining * 100.0,
            battery_voltage_v=bat.voltage_v,
            battery_current_a=bat.current_a,
            gps_ok=not self._gps_lost,
            position_ok=self.position_ok,
            home=self._home,
            mission_current=self._mis_cur,
            mission_count=len(self._plans[MISSION]),
            mission_finished=self._mis_finished,
            geofence_breached=self._gf_breached,
        )

    @property
    def params(self) -> Params:
        return self._params

    @property
    def position_ok(self) -> bool:
        t = self._t_us * 1e-6
        return (not self._gps_lost and t >= self._est_ready_at_s and t >= self._gps_back_at_s)

    @property
    def landed_state(self) -> LandedState:
        if self._on_ground:
            return LandedState.ON_GROUND
        if self._taking_off:
            return LandedState.TAKEOFF
        if self._landing:
            return LandedState.LANDING
        return LandedState.IN_AIR

    @property
    def in_air(self) -> bool:
        return not self._on_ground

    @property
    def link_lost(self) -> bool:
        """True while the data-link-loss failsafe condition holds (no GCS heartbeat for COM_DL_LOSS_T)."""
        return self._dl_lost

    def drain_events(self) -> list[Event]:
        ev = self._events
        self._events = []
        return ev

    # -- link -----------------------------------------------------------------------------------
    def gcs_heartbeat(self) -> None:
        """A GCS heartbeat arrived now (resets the data-link-loss timer COM_DL_LOSS_T)."""
        self._gcs_seen = True
        self._gcs_last_s = self._t_us * 1e-6
        if self._dl_lost:
            self._dl_lost = False
            self._text(SEV_INFO, "Data link regained")

    # -- commands (MAV_CMD) ---------------------------------------------------------------------
    def _rejected_once(self) -> CommandOutcome | None:
        # Every command starts here: make sure cached parameter values are current.
        if self._p.version != self._params.version:
            self._p.load(self._params)
        if self._reject_next:
            self._reject_next = False
            return CommandOutcome(MavResult.TEMPORARILY_REJECTED, "Command temporarily rejected")
        return None

    def arm(self, *, force: bool = False) -> CommandOutcome:
        if (r := self._rejected_once()) is not None:
            return r
        if self._armed:
            return CommandOutcome(MavResult.ACCEPTED)
        if not force:
            reason = self._arming_check()
            if reason:
                text = f"Arming denied: {reason}"
                self._text(SEV_CRITICAL, text)
                return CommandOutcome(MavResult.TEMPORARILY_REJECTED, text)
        if self._on_ground and self.position_ok:
            # PX4 sets home where it arms.
            pm = self._pm
            self._home = Home(pm.lat_deg, pm.lon_deg, pm.alt_amsl_m)
        self._set_armed(True, "Armed by external command")
        return CommandOutcome(MavResult.ACCEPTED)

    def _arming_check(self) -> str:
        if not self.position_ok:
            if self._gps_lost:
                return "GPS fix too low"
            return "estimator not ready, wait for global position"
        if self._battery.remaining < self._p.bat_crit:
            return "battery level too low"
        if self._fence_breached_now():
            return "vehicle outside geofence"
        if self._main == MainMode.AUTO and self._sub == AutoSub.MISSION:
            why = self._mission_problem()
            if why:
                return why
        return ""

    def disarm(self, *, force: bool = False) -> CommandOutcome:
        if (r := self._rejected_once()) is not None:
            return r
        if not self._armed:
            return CommandOutcome(MavResult.ACCEPTED)
        if not self._on_ground and not force:
            text = "Disarming denied: not landed"
            self._text(SEV_CRITICAL, text)
            return CommandOutcome(MavResult.TEMPORARILY_REJECTED, text)
        self._set_armed(False, "Disarmed by external command")
        return CommandOutcome(MavResult.ACCEPTED)

    def takeoff(self, alt_rel_m: float | None = None) -> CommandOutcome:
        """NAV_TAKEOFF; ``None`` (NaN on the wire) means MIS_TAKEOFF_ALT. Ends in HOLD."""
        if (r := self._rejected_once()) is not None:
            return r
        if not self.position_ok:
            return self._reject_mode(MainMode.AUTO, AutoSub.TAKEOFF)
        alt = alt_rel_m if _finite(alt_rel_m) else self._p.tko_alt
        assert alt is not None
        base = self._home.alt_amsl_m
        self._takeoff_alt_amsl = max(base + alt, self._pm.alt_amsl_m if not self._on_ground else base)
        self._set_mode(MainMode.AUTO, AutoSub.TAKEOFF)
        return CommandOutcome(MavResult.ACCEPTED)

    def land(self) -> CommandOutcome:
        if (r := self._rejected_once()) is not None:
            return r
        self._set_mode(MainMode.AUTO, AutoSub.LAND)
        self._text(SEV_INFO, "Landing at current position")
        return CommandOutcome(MavResult.ACCEPTED)

    def return_to_launch(self) -> CommandOutcome:
        if (r := self._rejected_once()) is not None:
            return r
        if not self.position_ok:
            return self._reject_mode(MainMode.AUTO, AutoSub.RTL)
        self._set_mode(MainMode.AUTO, AutoSub.RTL)
        self._text(SEV_INFO, "Returning to launch")
        return CommandOutcome(MavResult.ACCEPTED)

    def set_mode(self, main_mode: MainMode, sub_mode: AutoSub = AutoSub.NONE) -> CommandOutcome:
        """DO_SET_MODE / SET_MODE with PX4 custom main/sub mode."""
        if (r := self._rejected_once()) is not None:
            return r
        try:
            main_mode = MainMode(int(main_mode))
            sub_mode = AutoSub(int(sub_mode))
        except ValueError:
            return CommandOutcome(MavResult.UNSUPPORTED, "Unknown flight mode")
        return self._request_mode(main_mode, sub_mode)

    def _request_mode(self, main: MainMode, sub: AutoSub) -> CommandOutcome:
        if main == MainMode.AUTO:
            if sub == AutoSub.MISSION:
                return self._start_mission_mode(None)
            if sub == AutoSub.TAKEOFF:
                return self.takeoff(None)
            if sub == AutoSub.LAND:
                self._set_mode(MainMode.AUTO, AutoSub.LAND)
                return CommandOutcome(MavResult.ACCEPTED)
            if sub in (AutoSub.LOITER, AutoSub.RTL, AutoSub.FOLLOW_TARGET):
                if not self.position_ok:
                    return self._reject_mode(main, sub)
                if sub == AutoSub.RTL:
                    self._text(SEV_INFO, "Returning to launch")
                self._set_mode(main, sub)
                return CommandOutcome(MavResult.ACCEPTED)
            return CommandOutcome(MavResult.UNSUPPORTED, "Unsupported auto mode")
        if main == MainMode.POSCTL:
            if not self.position_ok:
                return self._reject_mode(main, AutoSub.NONE)
            self._set_mode(MainMode.POSCTL, AutoSub.NONE)
            return CommandOutcome(MavResult.ACCEPTED)
        if main == MainMode.OFFBOARD:
            # PX4 accepts OFFBOARD only while setpoints stream in (MAVSDK sends one before start()).
            if not self.position_ok or not self._offboard_fresh():
                return self._reject_mode(main, AutoSub.NONE)
            self._set_mode(MainMode.OFFBOARD, AutoSub.NONE)
            return CommandOutcome(MavResult.ACCEPTED)
        # Manual modes need RC, which the simulator does not have (PX4 SITL: COM_RC_IN_MODE=1).
        return self._reject_mode(main, AutoSub.NONE)

    def _reject_mode(self, main: MainMode, sub: AutoSub) -> CommandOutcome:
        name = _MODE_NAMES.get((main, sub), "this mode")
        text = f"Switching to {name} is currently not possible"
        self._text(SEV_CRITICAL, text)
        return CommandOutcome(MavResult.TEMPORARILY_REJECTED, text)

    def start_mission(self, first_item: int | None = None) -> CommandOutcome:
        """MISSION_START (also reachable as set_mode(AUTO, MISSION))."""
        if (r := self._rejected_once()) is not None:
            return r
        return self._start_mission_mode(first_item)

    def _start_mission_mode(self, first_item: int | None) -> CommandOutcome:
        items = self._plans[MISSION]
        if not items:
            text = "Mission rejected: no mission"
            self._text(SEV_CRITICAL, text)
            return CommandOutcome(MavResult.DENIED, text)
        if not self.position_ok:
            return self._reject_mode(MainMode.AUTO, AutoSub.MISSION)
        why = self._mission_problem()
        if why:
            text = f"Mission rejected: {why}"
            self._text(SEV_CRITICAL, text)
            return CommandOutcome(MavResult.DENIED, text)
        if first_item is not None:
            if not 0 <= first_item < len(items):
                return CommandOutcome(MavResult.DENIED, "Mission rejected: invalid start item")
            self._set_current(first_item)
        elif self._mis_finished:
            # PX4 restarts a finished mission from the beginning.
            self._mis_finished = False
            self._mis_jumps = {}
            self._mis_phase = "idle"
            self._set_current(0, force_event=True)
        was_mission = self._main == MainMode.AUTO and self._sub == AutoSub.MISSION
        self._set_mode(MainMode.AUTO, AutoSub.MISSION)
        if was_mission:
            self._mis_phase = "idle"
        return CommandOutcome(MavResult.ACCEPTED)

    def reposition(
        self, lat_deg: float, lon_deg: float, alt_amsl_m: float | None, yaw_deg: float | None = None
    ) -> CommandOutcome:
        """DO_REPOSITION (goto): switch to HOLD at the new point; NaN/None keeps that coordinate."""
        if (r := self._rejected_once()) is not None:
            return r
        if not self.position_ok:
            return self._reject_mode(MainMode.AUTO, AutoSub.LOITER)
        if not self._armed or self._on_ground:
            text = "Reposition rejected: vehicle not flying"
            self._text(SEV_CRITICAL, text)
            return CommandOutcome(MavResult.TEMPORARILY_REJECTED, text)
        pm = self._pm
        lat = lat_deg if _finite(lat_deg) else pm.lat_deg
        lon = lon_deg if _finite(lon_deg) else pm.lon_deg
        alt = alt_amsl_m if _finite(alt_amsl_m) else pm.alt_amsl_m
        assert alt is not None
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            return CommandOutcome(MavResult.DENIED, "Reposition rejected: invalid coordinates")
        self._set_mode(MainMode.AUTO, AutoSub.LOITER)
        self._hold = (lat, lon, max(alt, self._ground_amsl_m + 1.0))
        self._hold_yaw = yaw_deg if _finite(yaw_deg) else None
        return CommandOutcome(MavResult.ACCEPTED)

    def change_speed(self, speed_m_s: float) -> CommandOutcome:
        if (r := self._rejected_once()) is not None:
            return r
        if not math.isfinite(speed_m_s):
            return CommandOutcome(MavResult.DENIED, "Invalid speed")
        if speed_m_s <= 0.0:
            self._speed_override = None  # -1 / 0: back to the default cruise speed
        else:
            self._speed_override = min(speed_m_s, self._p.vel_max)
        self._mis_speed = None
        return CommandOutcome(MavResult.ACCEPTED)

    def orbit(
        self, radius_m: float, velocity_m_s: float, lat_deg: float | None, lon_deg: float | None,
        alt_amsl_m: float | None,
    ) -> CommandOutcome:
        if (r := self._rejected_once()) is not None:
            return r
        if not self.position_ok:
            return self._reject_mode(MainMode.POSCTL, POSCTL_ORBIT_SUB)
        if not self._armed or self._on_ground:
            text = "Orbit rejected: vehicle not flying"
            self._text(SEV_CRITICAL, text)
            return CommandOutcome(MavResult.TEMPORARILY_REJECTED, text)
        pm = self._pm
        radius = radius_m if _finite(radius_m) and radius_m != 0.0 else 10.0
        if abs(radius) < 1.0 or abs(radius) > 1000.0:
            return CommandOutcome(MavResult.DENIED, "Orbit rejected: radius out of range")
        speed = velocity_m_s if _finite(velocity_m_s) else 1.0
        speed = min(abs(speed), self._p.vel_max)
        lat = lat_deg if _finite(lat_deg) and lat_deg != 0.0 else pm.lat_deg
        lon = lon_deg if _finite(lon_deg) and lon_deg != 0.0 else pm.lon_deg
        alt = alt_amsl_m if _finite(alt_amsl_m) else pm.alt_amsl_m
        assert lat is not None and lon is not None and alt is not None
        self._orbit = (lat, lon, alt, radius, speed)
        self._set_mode(MainMode.POSCTL, POSCTL_ORBIT_SUB)
        return CommandOutcome(MavResult.ACCEPTED)

    def follow_target_update(
        self, lat_deg: float, lon_deg: float, alt_amsl_m: float, vn_m_s: float, ve_m_s: float
    ) -> None:
        """FOLLOW_TARGET message content (used while in AUTO.FOLLOW_TARGET)."""
        if not (math.isfinite(lat_deg) and math.isfinite(lon_deg)):
            return
        vn = vn_m_s if math.isfinite(vn_m_s) else 0.0
        ve = ve_m_s if math.isfinite(ve_m_s) else 0.0
        alt = alt_amsl_m if math.isfinite(alt_amsl_m) else self._home.alt_amsl_m
        if self._follow is not None and math.hypot(vn, ve) < 0.5:
            # Slow or standing target: estimate its course from successive fixes.
            plat, plon = self._follow[0], self._follow[1]
            dn, de = ne_offset_m(plat, plon, lat_deg, lon_deg)
            if math.hypot(dn, de) > 1.0:
                self._follow_course_deg = math.degrees(math.atan2(de, dn))
        elif math.hypot(vn, ve) >= 0.5:
            self._follow_course_deg = math.degrees(math.atan2(ve, vn))
        self._follow = (lat_deg, lon_deg, alt, vn, ve, self._t_us * 1e-6)

    def offboard_setpoint(self, kind: str, a: float, b: float, c: float,
                          yaw_deg: float | None = None) -> None:
        """An offboard setpoint (SET_POSITION_TARGET_*), flown while in OFFBOARD.

        Parameters
        ----------
        kind:
            ``"vel"``: ``a, b, c`` are north, east, down velocity (m/s); ``"pos"``: latitude,
            longitude (degrees) and altitude AMSL (m).
        yaw_deg:
            Heading to hold; None turns toward travel.
        """
        if kind not in ("vel", "pos") or not all(math.isfinite(x) for x in (a, b, c)):
            return
        yaw = yaw_deg % 360.0 if _finite(yaw_deg) else None
        self._ofb = (kind, a, b, c, yaw, self._t_us * 1e-6)

    def _offboard_fresh(self) -> bool:
        if self._ofb is None:
            return False
        if self._p.version != self._params.version:
            self._p.load(self._params)
        return self._t_us * 1e-6 - self._ofb[5] <= self._p.ofb_loss_t

    # -- stored plans (mission, fence, rally) -------------------------------------------------
    def set_items(self, mission_type: int, items: Sequence[Item]) -> MavResult:
        """Store a complete uploaded list (after the upload handshake). Fence items are validated."""
        if mission_type not in self._plans:
            return MavResult.UNSUPPORTED
        items = [i if i.seq == n else replace(i, seq=n) for n, i in enumerate(items)]
        if mission_type == FENCE:
            try:
                fence = Fence.from_items(items)
            except FenceError as exc:
                self._text(SEV_CRITICAL, f"Geofence invalid: {exc}")
                return MavResult.DENIED
            self._fence = fence
            self._gf_breached = False
        elif mission_type == MISSION:
            for it in items:
                if it.command in _NAV_POSITION_CMDS and it.frame not in _REL_ALT_FRAMES | _AMSL_FRAMES:
                    self._text(SEV_CRITICAL, f"Mission rejected: item {it.seq} has unsupported frame")
                    return MavResult.UNSUPPORTED
        if mission_type == MISSION and items and _same_items(items, self._plans[MISSION]):
            # PX4 keeps the progress of a mission whose re-upload is identical to the stored one
            # (Navigator compares the new mission with the stored one and only resets the current
            # index when it changed): a finished mission uploaded again is still finished, so a GCS
            # that wants it flown again must clear it first (MISSION_CLEAR_ALL) or change it.
            self._plans[MISSION] = list(items)
            self._set_current(self._mis_cur, force_event=True)
            return MavResult.ACCEPTED
        self._plans[mission_type] = list(items)
        if mission_type == MISSION:
            self._mis_jumps = {}
            self._mis_finished = False
            self._mis_phase = "idle"
            self._set_current(0 if items else -1, force_event=True)
        return MavResult.ACCEPTED

    def items(self, mission_type: int) -> list[Item]:
        return list(self._plans.get(mission_type, []))

    def clear_items(self, mission_type: int) -> None:
        if mission_type not in self._plans:
            return
        self._plans[mission_type] = []
        if mission_type == FENCE:
            self._fence = Fence()
            self._gf_breached = False
        elif mission_type == MISSION:
            self._mis_finished = False
            self._mis_phase = "idle"
            self._set_current(-1, force_event=True)
            if self._main == MainMode.AUTO and self._sub == AutoSub.MISSION and self._armed:
                self._set_mode(MainMode.AUTO, AutoSub.LOITER)

    def set_current_item(self, seq: int) -> MavResult:
        if not 0 <= seq < len(self._plans[MISSION]):
            return MavResult.DENIED
        self._mis_finished = False
        self._mis_phase = "idle"
        self._set_current(seq, force_event=True)
        return MavResult.ACCEPTED

    # -- faults -------------------------------------------------------------------------------
    def set_gps_lost(self, lost: bool) -> None:
        if lost == self._gps_lost:
            return
        self._gps_lost = lost
        if lost:
            self._text(SEV_CRITICAL, "GPS signal lost")
        else:
            self._gps_back_at_s = self._t_us * 1e-6 + GPS_RECOVER_S
            self._gps_failsafe = False
            self._text(SEV_INFO, "GPS signal regained")

    def set_battery_pct(self, pct: float) -> None:
        frac = min(100.0, max(0.0, float(pct))) / 100.0
        self._battery.set_remaining(frac)
        # A recharge (or a set above a threshold) re-arms the warnings and actions for that level.
        lvl = self._battery_level_of(frac)
        self._bat_level = min(self._bat_level, lvl)
        self._bat_acted = min(self._bat_acted, lvl)

    def reject_next_command(self) -> None:
        """The next command is answered TEMPORARILY_REJECTED (then normal service resumes)."""
        self._reject_next = True

    def reboot(self) -> None:
        """Back to the boot state at home: disarmed, estimator not converged, mission kept."""
        was_armed = self._armed
        self._boot(self._boot_home)
        self._reject_next = False
        if was_armed:
            self._events.append(ArmedChanged(False))
        self._events.append(ModeChanged(self._main, self._sub))
        if self._plans[MISSION]:
            self._events.append(CurrentItemChanged(self._mis_cur))

    # =========================================================================================
    # internals
    # =========================================================================================
    def _text(self, severity: int, text: str) -> None:
        self._events.append(StatusText(severity, text))

    def _set_armed(self, armed: bool, text: str) -> None:
        if armed == self._armed:
            return
        self._armed = armed
        t = self._t_us * 1e-6
        if armed:
            self._armed_at_s = t
            self._flew_since_arm = False
            self._bat_acted = 0
            self._dl_lost = False
            if self._gcs_seen:
                self._gcs_last_s = t  # start the link-loss timer afresh
        else:
            self._taking_off = False
            self._landing = False
        self._events.append(ArmedChanged(armed))
        self._text(SEV_INFO, text)

    def _set_mode(self, main: MainMode, sub: AutoSub) -> None:
        changed = (main, sub) != (self._main, self._sub)
        self._main, self._sub = main, sub
        self._taking_off = False
        self._landing = False
        pm = self._pm
        if main == MainMode.AUTO and sub == AutoSub.LOITER or main == MainMode.POSCTL:
            self._set_hold_here()
        elif main == MainMode.AUTO and sub == AutoSub.RTL:
            self._rtl_phase = ""
        elif main == MainMode.AUTO and sub == AutoSub.MISSION:
            self._mis_phase = "idle"
        elif main == MainMode.AUTO and sub == AutoSub.TAKEOFF:
            self._hold = (pm.lat_deg, pm.lon_deg, self._takeoff_alt_amsl)
        if changed:
            self._events.append(ModeChanged(main, sub))

    def _set_hold_here(self) -> None:
        """Hold where the vehicle comes to rest (current position plus braking distance)."""
        pm = self._pm
        if self._on_ground:
            self._hold = (pm.lat_deg, pm.lon_deg, pm.alt_amsl_m)
        else:
            a = max(self._p.acc_hor, 0.5)
            vn, ve = pm.vn_m_s, pm.ve_m_s
            v = math.hypot(vn, ve)
            k = v / (2.0 * a)
            lat, lon = offset_deg(pm.lat_deg, pm.lon_deg, vn * k, ve * k)
            self._hold = (lat, lon, pm.alt_amsl_m)
        self._hold_yaw = None

    def _set_current(self, seq: int, *, force_event: bool = False) -> None:
        if seq != self._mis_cur or force_event:
            self._mis_cur = seq
            self._events.append(CurrentItemChanged(seq))

    def _touch_down(self, t: float) -> None:
        pm = self._pm
        pm.alt_amsl_m = self._ground_amsl_m
        pm.vn_m_s = pm.ve_m_s = pm.vd_m_s = 0.0
        pm.roll_rad = pm.pitch_rad = 0.0
        self._on_ground = True
        self._landing = False
        self._taking_off = False
        self._landed_at_s = t
        self._text(SEV_INFO, "Landing detected")
        if self._main == MainMode.AUTO and self._sub == AutoSub.MISSION and self._mis_phase == "land":
            self._mission_item_done(t)

    # -- guidance -------------------------------------------------------------------------------
    def _wants_climb(self, t: float) -> bool:
        """On the ground and armed: does the current behaviour lift off?"""
        if self._main == MainMode.OFFBOARD:
            sp = self._ofb
            if sp is None:
                return False
            if sp[0] == "vel":
                return sp[3] < -0.1
            return sp[3] > self._ground_amsl_m + 0.3
        if self._main != MainMode.AUTO:
            return False
        sub = self._sub
        if sub == AutoSub.TAKEOFF:
            self._taking_off = True
            return True
        if sub == AutoSub.MISSION and self._mis_phase != "done" and self._mis_cur >= 0 \
                and not self._mis_finished:
            self._mission_begin_from_ground()
            return self._mis_phase in ("takeoff", "takeoff_item")
        return False

    def _guidance(self, t: float, dt_s: float) -> tuple[float, float, float, float | None]:
        main, sub = self._main, self._sub
        if main == MainMode.AUTO:
            if sub == AutoSub.LOITER:
                return self._go_hold(t)
            if sub == AutoSub.TAKEOFF:
                return self._go_takeoff(t)
            if sub == AutoSub.MISSION:
                return self._go_mission(t)
            if sub == AutoSub.RTL:
                return self._go_rtl(t)
            if sub == AutoSub.LAND:
                return self._go_land()
            if sub == AutoSub.FOLLOW_TARGET:
                return self._go_follow(t)
            return self._go_hold(t)
        if main == MainMode.POSCTL and sub == POSCTL_ORBIT_SUB:
            return self._go_orbit()
        if main == MainMode.OFFBOARD:
            return self._go_offboard(t)
        return self._go_hold(t)

    def _cruise(self) -> float:
        if self._speed_override is not None:
            return self._speed_override
        return self._p.cruise

    def _vertical(self, alt_err_m: float, up_m_s: float, dn_m_s: float) -> float:
        """NED vertical velocity setpoint that settles on an altitude error (positive = climb)."""
        p = self._p
        if alt_err_m >= 0.0:
            v = min(up_m_s, math.sqrt(1.6 * p.acc_dn * alt_err_m), 1.5 * alt_err_m)
            return -v
        e = -alt_err_m
        v = min(dn_m_s, math.sqrt(1.6 * p.acc_up * e), 1.5 * e)
        return v

    def _fly_to(self, lat: float, lon: float, alt: float, speed: float, v_end: float = 0.0,
                yaw_sp: float | None = None) -> tuple[float, float, float, float | None, float]:
        """Velocity setpoint toward a point; returns (vn, ve, vd, yaw, horizontal distance)."""
        pm = self._pm
        p = self._p
        dn, de = pm.offset_to(lat, lon)
        vn, ve, d = velocity_toward(dn, de, speed, p.acc_hor, v_end)
        vd = self._vertical(alt - pm.alt_amsl_m, p.auto_up, p.auto_dn)
        if yaw_sp is None and d > 2.0:
            yaw_sp = math.degrees(math.atan2(de, dn))
        return vn, ve, vd, yaw_sp, d

    def _go_hold(self, t: float) -> tuple[float, float, float, float | None]:
        lat, lon, alt = self._hold
        speed = self._cruise()
        vn, ve, vd, yaw, _ = self._fly_to(lat, lon, alt, speed, 0.0, self._hold_yaw)
        return vn, ve, vd, yaw

    def _go_takeoff(self, t: float) -> tuple[float, float, float, float | None]:
        pm = self._pm
        p = self._p
        lat, lon, alt = self._hold
        dn, de = pm.offset_to(lat, lon)
        vn, ve, _ = velocity_toward(dn, de, 1.0, p.acc_hor)
        err = alt - pm.alt_amsl_m
        vd = self._vertical(err, p.tko, p.auto_dn)
        if abs(err) <= p.alt_rad * 0.5 or (err <= p.alt_rad and abs(pm.vd_m_s) < 0.2):
            self._taking_off = False
            self._text(SEV_INFO, "Takeoff complete, holding")
            self._set_mode(MainMode.AUTO, AutoSub.LOITER)
            self._hold = (lat, lon, alt)
        return vn, ve, vd, None

    def _land_speed(self) -> float:
        p = self._p
        h = self._pm.alt_amsl_m - self._ground_amsl_m
        if h >= p.land_alt1:
            return max(p.auto_dn, p.land)
        if h <= p.land_alt2 or p.land_alt1 <= p.land_alt2:
            return p.land
        f = (h - p.land_alt2) / (p.land_alt1 - p.land_alt2)
        return p.land + f * (max(p.auto_dn, p.land) - p.land)

    def _go_land(self, lat: float | None = None, lon: float | None = None
                 ) -> tuple[float, float, float, float | None]:
        """Descend (over a point if given, else braking to a stop) and touch down."""
        self._landing = True
        pm = self._pm
        if lat is not None and lon is not None and self.position_ok:
            dn, de = pm.offset_to(lat, lon)
            vn, ve, _ = velocity_toward(dn, de, 2.0, self._p.acc_hor)
        else:
            vn = ve = 0.0
        return vn, ve, self._land_speed(), None

    def _go_rtl(self, t: float) -> tuple[float, float, float, float | None]:
        p = self._p
        pm = self._pm
        home = self._home
        if self._rtl_phase == "":
            self._rtl_dest = self._rtl_destination()
        dest_lat, dest_lon = self._rtl_dest
        if self._rtl_phase == "":
            dn, de = pm.offset_to(dest_lat, dest_lon)
            dist = math.hypot(dn, de)
            if dist > p.rtl_min_dist:
                self._rtl_alt_amsl = max(pm.alt_amsl_m, home.alt_amsl_m + p.rtl_alt)
            else:
                self._rtl_alt_amsl = max(pm.alt_amsl_m, home.alt_amsl_m + min(p.rtl_desc, p.rtl_alt))
            self._rtl_phase = "climb"
            self._hold = (pm.lat_deg, pm.lon_deg, self._rtl_alt_amsl)
        phase = self._rtl_phase
        if phase == "climb":
            lat, lon, alt = self._hold
            vn, ve, vd, _, _ = self._fly_to(lat, lon, alt, 1.0)
            if self._rtl_alt_amsl - pm.alt_amsl_m <= p.alt_rad:
                self._rtl_phase = phase = "return"
            else:
                return vn, ve, vd, None
        if phase == "return":
            vn, ve, vd, yaw, d = self._fly_to(dest_lat, dest_lon, self._rtl_alt_amsl,
                                              self._cruise())
            if d <= 0.5 and pm.ground_speed_m_s < 0.5:
                self._rtl_phase = phase = "descend"
            else:
                return vn, ve, vd, yaw
        if phase == "descend":
            target = home.alt_amsl_m + p.rtl_desc
            target = min(target, self._rtl_alt_amsl)
            vn, ve, vd, _, _ = self._fly_to(dest_lat, dest_lon, target, 1.0)
            if pm.alt_amsl_m - target <= p.alt_rad:
                self._rtl_phase = phase = "loiter"
                self._rtl_loiter_until = t + max(0.0, p.rtl_delay)
            else:
                return vn, ve, vd, None
        if phase == "loiter":
            if p.rtl_delay < 0.0 or t < self._rtl_loiter_until:
                vn, ve, vd, _, _ = self._fly_to(dest_lat, dest_lon,
                                                min(home.alt_amsl_m + p.rtl_desc, self._rtl_alt_amsl), 1.0)
                return vn, ve, vd, None
            self._rtl_phase = "land"
        return self._go_land(dest_lat, dest_lon)

    def _rtl_destination(self) -> tuple[float, float]:
        """Where RTL goes: home, or (RTL_TYPE 0 or 3, as PX4) the closest rally point if nearer."""
        home = self._home
        best = (home.lat_deg, home.lon_deg)
        if int(self._params.get("RTL_TYPE")) not in (0, 3):
            return best
        pm = self._pm
        best_d = math.hypot(*pm.offset_to(*best))
        for it in self._plans[RALLY]:
            if it.command != NAV_RALLY_POINT or (it.x == 0 and it.y == 0):
                continue
            lat, lon = it.x * 1e-7, it.y * 1e-7
            d = math.hypot(*pm.offset_to(lat, lon))
            if d < best_d:
                best, best_d = (lat, lon), d
        return best

    def _go_follow(self, t: float) -> tuple[float, float, float, float | None]:
        p = self._p
        pm = self._pm
        f = self._follow
        if f is None:
            return self._go_hold(t)
        lat, lon, alt, tvn, tve, t0 = f
        age = min(max(0.0, t - t0), 3.0)  # predict with the target's velocity, not forever
        dn_t, de_t = pm.offset_to(lat, lon)
        dn_t += tvn * age
        de_t += tve * age
        ang = math.radians(self._follow_course_deg + p.flw_fa)
        dn = dn_t + p.flw_dst * math.cos(ang)
        de = de_t + p.flw_dst * math.sin(ang)
        # Feed-forward the target's velocity plus a braking approach to the follow point.
        cn, ce, _ = velocity_toward(dn, de, p.vel_max, p.acc_hor_max)
        vn = tvn + cn
        ve = tve + ce
        sp = math.hypot(vn, ve)
        if sp > p.vel_max:
            vn *= p.vel_max / sp
            ve *= p.vel_max / sp
        if p.flw_alt_mode == 2:
            alt_sp = alt + p.flw_ht
        else:
            alt_sp = self._home.alt_amsl_m + p.flw_ht
        vd = self._vertical(alt_sp - pm.alt_amsl_m, p.auto_up, p.auto_dn)
        yaw = math.degrees(math.atan2(de_t, dn_t)) if math.hypot(dn_t, de_t) > 1.0 else None
        return vn, ve, vd, yaw

    def _go_offboard(self, t: float) -> tuple[float, float, float, float | None]:
        """Fly the latest offboard setpoint: velocities within PX4's limits, or to a position."""
        p = self._p
        sp = self._ofb
        if sp is None:
            return self._go_hold(t)
        kind, a, b, c, yaw, _ = sp
        if kind == "vel":
            vn, ve = a, b
            sp_h = math.hypot(vn, ve)
            if sp_h > p.vel_max:
                vn, ve = vn * p.vel_max / sp_h, ve * p.vel_max / sp_h
            vd = max(-p.up, min(p.dn, c))
            if yaw is None and sp_h > 0.5:
                yaw = math.degrees(math.atan2(ve, vn))
            return vn, ve, vd, yaw
        vn, ve, _, travel_yaw, _ = self._fly_to(a, b, c, p.vel_max)
        pm = self._pm
        # Offboard is not limited to the auto speeds: climb/descend at the MPC_Z_VEL_MAX limits.
        vd = self._vertical(c - pm.alt_amsl_m, p.up, p.dn)
        return vn, ve, vd, yaw if yaw is not None else travel_yaw

    def _go_orbit(self) -> tuple[float, float, float, float | None]:
        p = self._p
        pm = self._pm
        lat, lon, alt, radius, speed = self._orbit
        dn, de = pm.offset_to(lat, lon)  # vehicle -> centre
        rn, re = -dn, -de  # centre -> vehicle
        r = math.hypot(rn, re)
        vd = self._vertical(alt - pm.alt_amsl_m, p.auto_up, p.auto_dn)
        if r < 0.1:
            return 1.0, 0.0, vd, None
        un, ue = rn / r, re / r
        # Positive radius: clockwise seen from above (PX4 convention).
        sign = 1.0 if radius > 0.0 else -1.0
        tn, te = -ue * sign, un * sign
        radial = max(-p.cruise, min(p.cruise, (abs(radius) - r)))
        vn = tn * speed + un * radial
        ve = te * speed + ue * radial
        yaw = math.degrees(math.atan2(de, dn))  # face the centre
        return vn, ve, vd, yaw

    # -- mission execution --------------------------------------------------------------------
    def _item_target(self, it: Item) -> tuple[float, float, float]:
        """(lat, lon, alt AMSL) of a positional item; 0/0 or NaN coordinates mean 'here'."""
        pm = self._pm
        if it.x == 0 and it.y == 0:
            lat, lon = pm.lat_deg, pm.lon_deg
        else:
            lat, lon = it.x * 1e-7, it.y * 1e-7
        z = it.z
        if not math.isfinite(z):
            alt = pm.alt_amsl_m
        elif it.frame in _AMSL_FRAMES:
            alt = z
        else:
            alt = self._home.alt_amsl_m + z
        return lat, lon, alt

    def _mission_problem(self) -> str:
        items = self._plans[MISSION]
        if not items:
            return "no mission"
        p = self._p
        if p.dist_1wp > 0.0:
            for it in items:
                if it.command in _NAV_POSITION_CMDS and not (it.x == 0 and it.y == 0):
                    d = distance_m(self._home.lat_deg, self._home.lon_deg, it.x * 1e-7, it.y * 1e-7)
                    if d > p.dist_1wp:
                        return f"first waypoint too far away: {d:.0f} m"
                    break
        if not self._fence.empty:
            for it in items:
                if it.command in _NAV_POSITION_CMDS and not (it.x == 0 and it.y == 0):
                    if self._fence.breached(it.x * 1e-7, it.y * 1e-7, self._home.lat_deg, self._home.lon_deg):
                        return f"item {it.seq} outside geofence"
        return ""

    def _mission_begin_from_ground(self) -> None:
        """Armed on the ground in MISSION: take off first as PX4 does (to the first item's alt)."""
        if self._mis_phase not in ("idle",):
            return
        items = self._plans[MISSION]
        p = self._p
        cur = items[self._mis_cur] if 0 <= self._mis_cur < len(items) else None
        if cur is not None and cur.command == NAV_TAKEOFF:
            self._mis_phase = "idle"  # the item itself is a takeoff
            self._mission_enter_item()
            return
        alt = self._home.alt_amsl_m + p.tko_alt
        for it in items[max(0, self._mis_cur):]:
            if it.command in _NAV_POSITION_CMDS:
                alt = max(alt, self._item_target(it)[2])
                break
        pm = self._pm
        self._mis_target = (pm.lat_deg, pm.lon_deg, alt)
        self._mis_phase = "takeoff"
        self._taking_off = True

    def _mission_enter_item(self) -> None:
        """Initialise the phase for the current item (immediate DO items are consumed here)."""
        items = self._plans[MISSION]
        pm = self._pm
        guard = 0
        while True:
            guard += 1
            if guard > 10 * max(1, len(items)):
                self._mission_finish()
                return
            if not 0 <= self._mis_cur < len(items):
                self._mission_finish()
                return
            it = items[self._mis_cur]
            cmd = it.command
            if cmd in (NAV_WAYPOINT, NAV_LOITER_TIME, NAV_LOITER_UNLIM, NAV_LOITER_TURNS, NAV_LOITER_TO_ALT):
                self._mis_target = self._item_target(it)
                self._mis_phase = "goto"
                return
            if cmd == NAV_TAKEOFF:
                lat, lon, alt = self._item_target(it)
                if it.x == 0 and it.y == 0:
                    lat, lon = pm.lat_deg, pm.lon_deg
                self._mis_target = (pm.lat_deg, pm.lon_deg, max(alt, self._home.alt_amsl_m + 0.5))
                self._mis_phase = "takeoff_item"
                self._taking_off = True
                return
            if cmd == NAV_LAND:
                self._mis_target = self._item_target(it)
                self._mis_phase = "land_approach"
                return
            if cmd == NAV_DELAY:
                self._mis_phase = "hold"
                self._mis_target = (pm.lat_deg, pm.lon_deg, pm.alt_amsl_m)
                self._mis_until = self._t_us * 1e-6 + max(0.0, it.param1 if math.isfinite(it.param1) else 0.0)
                return
            if cmd == NAV_RETURN_TO_LAUNCH:
                self._events.append(ItemReached(it.seq))
                self._mis_finished = True
                self._mis_phase = "done"
                self._set_mode(MainMode.AUTO, AutoSub.RTL)
                return
            # Immediate items: apply and move on.
            if cmd == DO_CHANGE_SPEED:
                sp = it.param2
                if math.isfinite(sp) and sp > 0.0:
                    self._mis_speed = min(sp, self._p.vel_max)
                elif math.isfinite(sp) and sp < 0.0:
                    self._mis_speed = None
            elif cmd == DO_JUMP:
                target = int(it.param1)
                repeat = int(it.param2)
                done = self._mis_jumps.get(it.seq, 0)
                if 0 <= target < len(items) and (repeat < 0 or done < repeat):
                    self._mis_jumps[it.seq] = done + 1
                    self._events.append(ItemReached(it.seq))
                    self._set_current(target)
                    continue
            self._events.append(ItemReached(it.seq))
            if self._mis_cur + 1 >= len(items):
                self._mission_finish()
                return
            self._set_current(self._mis_cur + 1)

    def _mission_item_done(self, t: float) -> None:
        items = self._plans[MISSION]
        self._events.append(ItemReached(items[self._mis_cur].seq))
        if self._mis_cur + 1 >= len(items):
            self._mission_finish()
            return
        self._set_current(self._mis_cur + 1)
        self._mis_phase = "idle"
        if not self._on_ground:
            self._mission_enter_item()

    def _mission_finish(self) -> None:
        pm = self._pm
        self._mis_finished = True
        self._mis_phase = "done"
        self._hold = (pm.lat_deg, pm.lon_deg, pm.alt_amsl_m)
        self._text(SEV_INFO, "Mission finished, loitering" if not self._on_ground else "Mission finished")

    def _mission_speed(self) -> float:
        if self._mis_speed is not None:
            return self._mis_speed
        return self._cruise()

    def _go_mission(self, t: float) -> tuple[float, float, float, float | None]:
        p = self._p
        pm = self._pm
        if self._mis_finished or self._mis_cur < 0:
            if self._mis_phase != "done":
                self._mission_finish()
            return self._go_hold(t)
        phase = self._mis_phase
        if phase == "idle":
            self._mission_enter_item()
            phase = self._mis_phase
            if phase == "done":
                return self._go_hold(t)
            if self._sub != AutoSub.MISSION:
                return self._guidance(t, 0.0)
        lat, lon, alt = self._mis_target
        if phase in ("takeoff", "takeoff_item"):
            dn, de = pm.offset_to(lat, lon)
            vn, ve, _ = velocity_toward(dn, de, 1.0, p.acc_hor)
            err = alt - pm.alt_amsl_m
            vd = self._vertical(err, p.tko, p.auto_dn)
            if err <= p.alt_rad:
                self._taking_off = False
                if phase == "takeoff":
                    self._mis_phase = "idle"
                else:
                    self._mission_item_done(t)
            return vn, ve, vd, None
        items = self._plans[MISSION]
        it = items[self._mis_cur]
        if phase == "goto":
            v_end = self._corner_speed(it)
            vn, ve, vd, yaw, d = self._fly_to(lat, lon, alt, self._mission_speed(), v_end,
                                              self._item_yaw(it))
            acc = it.param2 if it.command == NAV_WAYPOINT and math.isfinite(it.param2) and it.param2 > 0.0 \
                else p.acc_rad
            if d <= acc and abs(alt - pm.alt_amsl_m) <= p.alt_rad:
                if it.command == NAV_WAYPOINT:
                    hold = it.param1 if math.isfinite(it.param1) else 0.0
                elif it.command == NAV_LOITER_TIME:
                    hold = it.param1 if math.isfinite(it.param1) else 0.0
                elif it.command == NAV_LOITER_UNLIM:
                    hold = math.inf
                else:
                    hold = 0.0
                if hold > 0.0:
                    self._mis_phase = "hold"
                    self._mis_until = t + hold
                else:
                    self._mission_item_done(t)
            return vn, ve, vd, yaw
        if phase == "hold":
            vn, ve, vd, _, _ = self._fly_to(lat, lon, alt, self._mission_speed())
            if t >= self._mis_until:
                self._mission_item_done(t)
            return vn, ve, vd, None
        if phase == "land_approach":
            vn, ve, vd, yaw, d = self._fly_to(lat, lon, pm.alt_amsl_m, self._mission_speed())
            if d <= 1.0 and pm.ground_speed_m_s < 0.5:
                self._mis_phase = "land"
            return vn, ve, 0.0, yaw
        if phase == "land":
            return self._go_land(lat, lon)
        return self._go_hold(t)

    @staticmethod
    def _item_yaw(it: Item) -> float | None:
        """Waypoint yaw (param4, degrees for NAV_WAYPOINT); NaN means 'toward travel'."""
        if it.command == NAV_WAYPOINT and math.isfinite(it.param4):
            return it.param4 % 360.0
        return None

    def _corner_speed(self, it: Item) -> float:
        """Speed to keep when passing a waypoint (fly-through; 0 when stopping there)."""
        if it.command != NAV_WAYPOINT or (math.isfinite(it.param1) and it.param1 > 0.0):
            return 0.0
        items = self._plans[MISSION]
        nxt = None
        for j in range(self._mis_cur + 1, len(items)):
            if items[j].command in _NAV_POSITION_CMDS:
                nxt = items[j]
                break
            if items[j].command not in (DO_CHANGE_SPEED,):
                return 0.0
        if nxt is None or nxt.command != NAV_WAYPOINT:
            return 0.0
        # Turn angle at the waypoint: straight on keeps the speed, a right angle or worse stops.
        pm = self._pm
        lat, lon, _ = self._mis_target
        a_n, a_e = pm.offset_to(lat, lon)
        nlat, nlon, _ = self._item_target(nxt)
        b_n, b_e = ne_offset_m(lat, lon, nlat, nlon)
        la, lb = math.hypot(a_n, a_e), math.hypot(b_n, b_e)
        if la < 1e-3 or lb < 1e-3:
            return 0.0
        cos_turn = (a_n * b_n + a_e * b_e) / (la * lb)
        return max(0.0, cos_turn) * self._mission_speed()

    # -- failsafes ------------------------------------------------------------------------------
    @staticmethod
    def _battery_level_of_p(frac: float, p: _P) -> int:
        if frac <= p.bat_emerg:
            return 3
        if frac <= p.bat_crit:
            return 2
        if frac <= p.bat_low:
            return 1
        return 0

    def _battery_level_of(self, frac: float) -> int:
        return self._battery_level_of_p(frac, self._p)

    def _fence_breached_now(self) -> bool:
        pm = self._pm
        p = self._p
        home = self._home
        if p.gf_ver > 0.0 and pm.alt_amsl_m - home.alt_amsl_m > p.gf_ver:
            return True
        if p.gf_hor > 0.0:
            dn, de = pm.offset_to(home.lat_deg, home.lon_deg)
            if math.hypot(dn, de) > p.gf_hor:
                return True
        return self._fence.breached(pm.lat_deg, pm.lon_deg, home.lat_deg, home.lon_deg)

    def _failsafe_action(self, action: str, why: str) -> None:
        """Switch to a failsafe mode unless already there (hold / rtl / land)."""
        if action == "hold":
            self._set_mode(MainMode.AUTO, AutoSub.LOITER)
            self._set_hold_here()  # even if already holding: stop at the current position
            self._text(SEV_CRITICAL, f"Failsafe activated: {why}, holding")
        elif action == "rtl":
            if self.position_ok:
                if not (self._main == MainMode.AUTO and self._sub == AutoSub.RTL):
                    self._set_mode(MainMode.AUTO, AutoSub.RTL)
                self._text(SEV_CRITICAL, f"Failsafe activated: {why}, returning to launch")
            else:
                self._failsafe_action("land", why)
        elif action == "land":
            if not (self._main == MainMode.AUTO and self._sub == AutoSub.LAND):
                self._set_mode(MainMode.AUTO, AutoSub.LAND)
            self._text(SEV_CRITICAL, f"Failsafe activated: {why}, landing")
        elif action == "disarm":
            self._text(SEV_EMERGENCY, f"Failsafe activated: {why}, disarming")
            self._set_armed(False, "Disarmed by failsafe")

    def _failsafes(self, t: float) -> None:
        p = self._p
        flying = self._armed and not self._on_ground

        # Data link loss: only once a GCS has been heard (PX4 behaviour), only acts while flying.
        if self._gcs_seen and not self._dl_lost and t - self._gcs_last_s > p.dl_loss_t:
            self._dl_lost = True
            self._text(SEV_CRITICAL, "Connection to ground station lost")
            if flying:
                act = {1: "hold", 2: "rtl", 3: "land", 5: "land", 6: "disarm"}.get(p.dll_act)
                if act is not None:
                    self._failsafe_action(act, "no connection to ground station")

        # Offboard signal lost: leave OFFBOARD as COM_OBL_RC_ACT says (no RC: manual choices -> Hold).
        if self._main == MainMode.OFFBOARD and not self._offboard_fresh():
            act = {3: "rtl", 4: "land", 6: "land", 7: "disarm"}.get(p.obl_act, "hold")
            if flying:
                self._failsafe_action(act, "no offboard signal")
            else:
                self._set_mode(MainMode.AUTO, AutoSub.LOITER)
                self._text(SEV_CRITICAL, "Failsafe activated: no offboard signal")

        # Battery levels: each level is announced once when crossed, and acted on once per flight
        # (also when a flight starts below it); a recharge via set_battery_pct re-arms both.
        level = self._battery_level_of_p(self._battery.remaining, p)
        if level > self._bat_level:
            self._bat_level = level
            pct = self._battery.remaining * 100.0
            if level == 1:
                self._text(SEV_WARNING, f"Low battery level! {pct:.0f}% remaining")
            elif level == 2:
                self._text(SEV_CRITICAL, f"Critical battery level! {pct:.0f}% remaining")
            else:
                self._text(SEV_EMERGENCY, f"Emergency battery level! {pct:.0f}% remaining")
        if flying and level > self._bat_acted:
            self._bat_acted = level
            act = p.low_bat_act
            if level == 1 and act == 3:
                self._failsafe_action("rtl", "low battery")
            elif level == 2 and act in (2, 3):
                self._failsafe_action("land", "critical battery")
            elif level == 2 and act == 1:
                self._failsafe_action("rtl", "critical battery")
            elif level == 3 and act != 0:
                self._failsafe_action("land", "emergency battery")

        # Geofence, checked at 10 Hz.
        if t >= self._gf_next_check_s:
            self._gf_next_check_s = t + 0.1
            breached = self.position_ok and self._fence_breached_now()
            if breached and not self._gf_breached:
                self._gf_breached = True
                self._text(SEV_CRITICAL, "Geofence violation")
                if flying:
                    act = {2: "hold", 3: "rtl", 4: "land", 5: "land"}.get(p.gf_action)
                    if act is not None:
                        self._failsafe_action(act, "geofence breached")
            elif not breached and self._gf_breached:
                self._gf_breached = False

        # GPS / position loss while flying in a mode that needs a position: descend and land.
        if self._gps_lost and flying and not self._gps_failsafe:
            self._gps_failsafe = True
            self._failsafe_action("land", "no global position")
