"""Safety invariants of the planner, tested rather than assumed (DEVELOPERS.md):

* no leg of an uploaded mission (home -> every item -> RTL home) comes within the margin of an
  active no-fly zone, and no point is above the altitude limit: property-style, over many
  incidents around the Kudus event zone, every category and orbit radii up to the configured
  maximum, from the ground and from the air (redirect);
* the battery reserve holds: the example fleet's energy model matches the battery model of the
  drones it flies (``sim/battery.py``), number by number, and plans flown in sim's vehicle model
  never use more than planned (and not absurdly less); a drone without a fitted model is planned
  pessimistically.

The flight evidence over MAVLink is in ``test_e2e_safety.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import example as hyp_example
from hypothesis import strategies as st

from dronectl.config import Category, DroneConfig, OnScene, Settings, load_settings
from dronectl.planning import ORBIT_SPEED_FACTOR, Infeasible, Planner, load_airspace
from missions.airspace import Airspace
from missions.geodesy import distance_m
from sim.battery import HOVER_ENDURANCE_S, Battery
from sim.params import Params
from tests.dronectl.safety_support import fly_in_sim_model, leg_clearances, mission_path, near_limit_target

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "muria" / "config.toml"
EVENT_ZONE = "Acara Alun-alun Simpang Tujuh Kudus"
#: The audit's counter-examples: the leg leaving an orbit passed 4.8 m (disaster, r 80 m) from the
#: event zone, and crossed it with a 200 m orbit (fire).
AUDIT_DISASTER = (-6.807356, 110.83708)
AUDIT_FIRE_R200 = (-6.807995, 110.836441)
#: Route-to-zone distances are measured in another projection than the router's: mm differences.
TOL_M = 0.05
MAX_ORBIT_RADIUS_M = float(OnScene.model_fields["orbit_radius_m"].metadata[-1].le)  # type: ignore[attr-defined]


def _example_active(tmp: Path) -> Settings:
    """The shipped example with the event zone always active (its window is one morning)."""
    ex = load_settings(EXAMPLE)
    assert ex.airspace_file is not None
    doc = json.loads(ex.airspace_file.read_text(encoding="utf-8"))
    for feat in doc["features"]:
        feat["properties"].pop("active_from", None)
        feat["properties"].pop("active_until", None)
    air = tmp / "airspace.geojson"
    air.write_text(json.dumps(doc), encoding="utf-8")
    return ex.with_overrides(airspace_path=air)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return _example_active(tmp_path_factory.mktemp("air"))


@pytest.fixture(scope="module")
def airspace(example: Settings) -> Airspace:
    a = load_airspace(example)
    assert any(z.name == EVENT_ZONE for z in a.active_zones())
    return a


# ---------------------------------------------------------------------------------------------
# No leg within the margin of a zone, no point above the altitude limit
# ---------------------------------------------------------------------------------------------

_planners: dict[tuple[float, str], Planner] = {}


def _planner(example: Settings, airspace: Airspace, radius_m: float, pattern: str) -> Planner:
    """The example's planner with every category flying ``pattern`` at ``radius_m``, and drones
    that never run short of battery (geometry is under test here, not range)."""
    key = (round(radius_m, 1), pattern)
    if key not in _planners:
        on_scene = {c.value: {**o.model_dump(), "pattern": pattern, "orbit_radius_m": key[0]}
                    for c, o in example.on_scene.items()}
        drones = [{**d.model_dump(), "energy": {"hover_pct_per_min": 0.5, "cruise_pct_per_min": 0.5,
                                                "climb_pct_per_min": 0.5, "descent_pct_per_min": 0.5}}
                  for d in example.drones]
        _planners[key] = Planner(example.with_overrides(on_scene=on_scene, drones=drones), airspace)
    return _planners[key]


def _assert_every_leg_legal(planner: Planner, airspace: Airspace, drone_id: str, target: tuple[float, float],
                            category: Category, start: tuple[float, float, float] | None = None) -> int:
    s = planner.settings
    try:
        plan = planner.plan(s.drone(drone_id), target, category, battery_pct=100.0,
                            start=None if start is None else start[:2], in_air=start is not None)
    except Infeasible as e:
        assert e.code == "no_route", e  # the only refusal left with an unlimited battery
        return 0
    path = mission_path(plan, s, start=start)
    for lat, lon, alt in path:
        assert 0.0 <= alt <= s.max_alt_m, f"altitude {alt} m outside [0, {s.max_alt_m}]"
    legs = leg_clearances(path, airspace)
    worst = min(legs, key=lambda leg: leg.clearance_m)
    assert worst.clearance_m >= s.flight.margin_m - TOL_M, (
        f"leg {worst.index} {worst.start} -> {worst.end} passes {worst.clearance_m:.1f} m from "
        f"{worst.zone} (margin {s.flight.margin_m} m; {category.value}, {drone_id}, target {target})")
    # Ends over home, so the RTL only lands.
    base = s.base(s.drone(drone_id).base)
    over_home = path[-4]
    assert distance_m(over_home[0], over_home[1], base.lat_deg, base.lon_deg) < 1.0
    return len(legs)


def test_audit_counterexamples_now_keep_the_margin(example: Settings, airspace: Airspace) -> None:
    # Shipped on-scene settings: disaster orbits at 80 m, fire at 60 m.
    shipped = Planner(example.with_overrides(drones=[
        {**d.model_dump(), "energy": {"hover_pct_per_min": 0.5, "cruise_pct_per_min": 0.5}}
        for d in example.drones]), airspace)
    assert example.on_scene[Category.DISASTER].pattern == "orbit"
    for cat in (Category.DISASTER, Category.FIRE):
        assert _assert_every_leg_legal(shipped, airspace, "kudus-1", AUDIT_DISASTER, cat) > 10
    r200 = _planner(example, airspace, 200.0, "orbit")
    assert _assert_every_leg_legal(r200, airspace, "kudus-1", AUDIT_FIRE_R200, Category.FIRE) > 10


def _zone_box(airspace: Airspace, pad_deg: float = 0.012) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = next(z for z in airspace.zones if z.name == EVENT_ZONE).geometry.bounds
    return miny - pad_deg, maxy + pad_deg, minx - pad_deg, maxx + pad_deg


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    u=st.floats(0.0, 1.0), v=st.floats(0.0, 1.0),
    category=st.sampled_from(list(Category)),
    pattern=st.sampled_from(["orbit", "orbit", "hold"]),
    radius_m=st.one_of(st.sampled_from([6.0, 40.0, 60.0, 80.0, 200.0, MAX_ORBIT_RADIUS_M]),
                       st.floats(6.0, MAX_ORBIT_RADIUS_M)),
    drone_id=st.sampled_from(["kudus-1", "jati-1"]),
    from_air=st.booleans(),
)
@hyp_example(u=-1.0, v=-1.0, category=Category.DISASTER, pattern="orbit", radius_m=80.0, drone_id="kudus-1",
         from_air=False)
@hyp_example(u=-2.0, v=-2.0, category=Category.FIRE, pattern="orbit", radius_m=200.0, drone_id="kudus-1",
         from_air=False)
@hyp_example(u=-2.0, v=-2.0, category=Category.FIRE, pattern="orbit", radius_m=MAX_ORBIT_RADIUS_M,
         drone_id="jati-1", from_air=True)
def test_every_uploaded_leg_keeps_the_margin_and_altitude(
    example: Settings, airspace: Airspace, u: float, v: float, category: Category, pattern: str,
    radius_m: float, drone_id: str, from_air: bool,
) -> None:
    """Incidents in and around the event zone (u, v spread over a box 1.3 km beyond it; the
    negative values are the audit's two points)."""
    lat0, lat1, lon0, lon1 = _zone_box(airspace)
    target = {-1.0: AUDIT_DISASTER, -2.0: AUDIT_FIRE_R200}.get(u) or (lat0 + u * (lat1 - lat0),
                                                                     lon0 + v * (lon1 - lon0))
    planner = _planner(example, airspace, radius_m, pattern)
    start = None
    if from_air:
        # Redirected while flying at cruise altitude on the far side of the zone.
        start = (lat1 - v * (lat1 - lat0), lon1 - u * (lon1 - lon0), example.flight.cruise_alt_m)
        if not airspace.check(start[0], start[1]).flyable or airspace.nearest_flyable(
                start[0], start[1], margin_m=example.flight.margin_m).moved:
            start = None  # a drone is never inside the margin: not a case
    _assert_every_leg_legal(planner, airspace, drone_id, target, category, start)


def test_orbit_that_would_touch_the_margin_falls_back_to_a_hold(example: Settings, airspace: Airspace) -> None:
    # A 500 m orbit around a point 150 m outside the zone's margin cannot be flown: the drone holds.
    planner = _planner(example, airspace, MAX_ORBIT_RADIUS_M, "orbit")
    plan = planner.plan(planner.settings.drone("kudus-1"), AUDIT_FIRE_R200, Category.FIRE, battery_pct=100.0)
    assert plan.items[plan.scene_seq].param1 > 0  # a hold time at the scene point
    assert plan.return_seq == plan.scene_seq + 1
    far = _planner(example, airspace, 60.0, "orbit")
    orbit = far.plan(far.settings.drone("jati-1"), (-6.8400, 110.8452), Category.FIRE, battery_pct=100.0)
    assert orbit.return_seq - orbit.scene_seq > 8  # an orbit where nothing is near


def test_orbit_radius_is_limited_in_config() -> None:
    with pytest.raises(ValueError, match="orbit_radius_m"):
        OnScene.model_validate({"pattern": "orbit", "orbit_radius_m": MAX_ORBIT_RADIUS_M + 1})


# ---------------------------------------------------------------------------------------------
# Battery reserve: the energy model against the battery of the drones flown
# ---------------------------------------------------------------------------------------------

def _sim_pct_per_min(speed_m_s: float, climb_m_s: float) -> float:
    """sim's battery drain in % of the pack per minute (sim/battery.py)."""
    return Battery.effort(True, True, speed_m_s, climb_m_s) * 100.0 / (HOVER_ENDURANCE_S / 60.0)


def test_example_energy_model_matches_sims_battery_numerically(example: Settings) -> None:
    px4 = Params.px4_defaults()
    tko, up, dn, land = (px4.get(n) for n in ("MPC_TKO_SPEED", "MPC_Z_V_AUTO_UP", "MPC_Z_V_AUTO_DN",
                                               "MPC_LAND_SPEED"))
    planner = Planner(example, Airspace())
    for d in example.drones:
        p = planner.profile(d)

        def close_above(model: float, truth: float, what: str) -> None:
            # Never below what the drone really draws (the reserve would not hold), at most 10 % above.
            assert truth <= model <= 1.10 * truth, f"{d.id} {what}: model {model:.3f} vs sim {truth:.3f}"

        close_above(p.hover_pct_per_min, _sim_pct_per_min(0.0, 0.0), "hover %/min")
        close_above(p.cruise_pct_per_min, _sim_pct_per_min(d.cruise_speed_m_s, 0.0), "cruise %/min")
        # Climbs: the take-off (vertical, at MPC_TKO_SPEED) is the slowest and, per metre, the
        # dearest; a climb in the air (MPC_Z_V_AUTO_UP) costs less per metre.
        assert p.climb_rate_m_s == tko
        close_above(p.climb_pct_per_min / p.climb_rate_m_s, _sim_pct_per_min(0.0, tko) / tko, "take-off %/m")
        assert p.climb_pct_per_min / p.climb_rate_m_s >= _sim_pct_per_min(0.0, up) / up
        # Descents and the landing: at MPC_Z_V_AUTO_DN, the last metres at MPC_LAND_SPEED.
        assert (p.descent_rate_m_s, p.land_speed_m_s) == (dn, land)
        close_above(p.descent_pct_per_min, _sim_pct_per_min(0.0, -dn), "descent %/min")
        assert p.descent_pct_per_min >= _sim_pct_per_min(0.0, -land)
        # The orbit is flown at a lower average speed: still at least what sim draws at that speed.
        assert p.cruise_pct_per_min >= _sim_pct_per_min(ORBIT_SPEED_FACTOR * d.cruise_speed_m_s, 0.0)


def test_unfitted_drone_is_planned_pessimistically() -> None:
    d = DroneConfig.model_validate({"id": "x", "name": "X", "base": "b", "url": "udpin://0.0.0.0:1", "system_id": 9})
    s = load_settings(EXAMPLE)
    p = Planner(s, Airspace()).profile(d)
    assert p.hover_pct_per_min == pytest.approx(100.0 / d.endurance_min)
    # Above a drag-heavy quad's cruise (sim: 1.58x hover at 12 m/s) and take-off (1.225x at 1.5 m/s).
    assert p.cruise_pct_per_min >= 1.1 * _sim_pct_per_min(d.cruise_speed_m_s, 0.0)
    assert p.climb_pct_per_min / p.climb_rate_m_s >= _sim_pct_per_min(0.0, 1.5) / 1.5
    assert p.descent_pct_per_min >= _sim_pct_per_min(0.0, 0.0)
    with pytest.raises(ValueError, match="cruise_pct_per_min"):
        DroneConfig.model_validate({**d.model_dump(), "energy": {"cruise_pct_per_min": -1}})


CASES: list[tuple[str, Category, tuple[float, float] | None, dict[str, Any]]] = [
    ("kudus-1", Category.CRIME, (-6.8070, 110.8500), {}),  # short, straight
    ("kudus-1", Category.CRIME, (-6.8047, 110.8350), {}),  # around the event zone, both ways
    ("kudus-1", Category.FIRE, (-6.8070, 110.8500), {}),  # orbit 60 m
    ("jati-1", Category.DISASTER, (-6.8350, 110.8350), {}),  # orbit 80 m
    ("jati-1", Category.MEDICAL, (-6.8262, 110.8600), {}),
    ("kudus-1", Category.CRIME, None, {"bearing_deg": 90.0}),  # lands just above the reserve
    ("jati-1", Category.FIRE, None, {"bearing_deg": 200.0}),  # orbit, just above the reserve
    ("kudus-2", Category.PUBLIC_ORDER, None, {"bearing_deg": 330.0, "battery_pct": 70.0}),
]


@pytest.mark.parametrize(("drone_id", "category", "target", "how"), CASES)
def test_sim_never_uses_more_battery_than_planned(
    example: Settings, airspace: Airspace, drone_id: str, category: Category,
    target: tuple[float, float] | None, how: dict[str, Any],
) -> None:
    planner = Planner(example, airspace)
    battery = float(how.get("battery_pct", 100.0))
    if target is None:
        target, plan = near_limit_target(planner, drone_id, category, battery_pct=battery,
                                          bearing_deg=how["bearing_deg"], left_above_reserve_pct=0.5)
        assert plan is not None
        assert plan.battery_left_pct - example.flight.reserve_pct < 1.0
    else:
        plan = planner.plan(example.drone(drone_id), target, category, battery_pct=battery)
    flight = fly_in_sim_model(plan, example, battery_pct=battery)
    # Home, within PX4's landing accuracy, never above the limit.
    assert flight.from_home_m < 3.0
    assert flight.max_alt_rel_m <= example.max_alt_m
    # Pessimistic (never used more than planned), but not absurdly (within 10 %).
    assert flight.used_pct <= plan.battery_use_pct, (flight, plan.battery_use_pct)
    assert flight.used_pct >= 0.9 * plan.battery_use_pct, (flight, plan.battery_use_pct)
    assert flight.landed_pct >= example.flight.reserve_pct
    # Time on the same footing (the ETA and flight time operators see).
    assert abs(flight.time_s - plan.flight_time_s) <= 0.1 * plan.flight_time_s + 30.0, (flight, plan.flight_time_s)


def test_just_beyond_the_reserve_is_refused_with_the_numbers(example: Settings, airspace: Airspace) -> None:
    planner = Planner(example, airspace)
    target, plan = near_limit_target(planner, "kudus-1", Category.CRIME, battery_pct=100.0, bearing_deg=90.0,
                                     left_above_reserve_pct=-0.5)
    assert plan is None
    with pytest.raises(Infeasible) as e:
        planner.plan(example.drone("kudus-1"), target, Category.CRIME, battery_pct=100.0)
    p = e.value.params
    assert e.value.code == "battery" and p["reserve_pct"] == example.flight.reserve_pct
    assert example.flight.reserve_pct - 1.5 <= p["left_pct"] < example.flight.reserve_pct
    assert 0 < p["max_onscene_s"] < example.on_scene[Category.CRIME].hover_s
