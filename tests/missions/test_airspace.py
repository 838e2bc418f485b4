"""Tests for missions.airspace: GeoJSON reading and validation, queries, nearest flyable point."""

from __future__ import annotations

import copy
import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shapely.geometry import LineString, Point

from missions import Airspace, AirspaceError, AltitudeError, Zone, destination, distance_m, plan_route
from missions.airspace import grow_hull

WIB = timezone(timedelta(hours=7))
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "muria" / "airspace.geojson"
KUDUS = (-6.8048, 110.8405)  # alun-alun, approximate
DURING = datetime(2026, 8, 17, 9, 0, tzinfo=WIB)
AFTER = datetime(2026, 8, 17, 14, 0, tzinfo=WIB)


def feature(geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def circle(lat: float, lon: float, radius_m: float, **props: Any) -> dict[str, Any]:
    return feature({"type": "Point", "coordinates": [lon, lat]}, radius_m=radius_m, **props)


def square(lat: float, lon: float, half_deg: float, **props: Any) -> dict[str, Any]:
    ring = [[lon - half_deg, lat - half_deg], [lon + half_deg, lat - half_deg], [lon + half_deg, lat + half_deg],
            [lon - half_deg, lat + half_deg], [lon - half_deg, lat - half_deg]]  # fmt: skip
    return feature({"type": "Polygon", "coordinates": [ring]}, **props)


def fc(*features: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features), **extra}


# ---- reading ------------------------------------------------------------------------------------


def test_example_file_loads_from_path_text_and_dict() -> None:
    a = Airspace.from_geojson(EXAMPLE)
    b = Airspace.from_geojson(str(EXAMPLE))
    c = Airspace.from_geojson(EXAMPLE.read_text(encoding="utf-8"))
    d = Airspace.from_geojson(json.loads(EXAMPLE.read_text(encoding="utf-8")))
    assert a.zones == b.zones == c.zones == d.zones
    kinds = {z.kind for z in a.zones}
    assert {"airport", "event", "prison", "government"} <= kinds
    assert a.max_alt_m == 120.0
    assert {s.base for s in a.service_areas} == {"polres-kudus", "polsek-jati"}
    # every feature of the example is labelled approximate
    for f in json.loads(EXAMPLE.read_text(encoding="utf-8"))["features"]:
        assert "APPROXIMATE" in f["properties"]["note"]


def test_example_zones_are_where_the_issue_says() -> None:
    a = Airspace.from_geojson(EXAMPLE)
    ngloram = a.zone_at(-7.1950, 111.5481)
    dewadaru = a.zone_at(-5.8009, 110.4786)
    assert ngloram is not None and ngloram.kind == "airport" and "Ngloram" in ngloram.name
    assert dewadaru is not None and dewadaru.kind == "airport" and "Dewadaru" in dewadaru.name
    # ~5 km safety zones
    assert a.check(*destination(-7.1950, 111.5481, 45.0, 4900.0)).flyable is False
    assert a.check(*destination(-7.1950, 111.5481, 45.0, 5100.0)).flyable is True
    event = a.zone_at(*KUDUS, at=DURING)
    assert event is not None and event.kind == "event" and event.temporary
    assert a.zone_at(*KUDUS, at=AFTER) is None
    # the zones do not collide with one another, nor cover a base
    for z1 in a.zones:
        for z2 in a.zones:
            if z1 is not z2:
                assert not z1.geometry.intersects(z2.geometry), (z1.name, z2.name)
    for base in [(-6.8036, 110.8417), (-6.8262, 110.8452)]:  # examples/muria/config.toml
        assert a.check(*base, at=DURING).flyable
        assert a.nearest_flyable(*base, margin_m=50.0, at=DURING).moved is False


def test_max_alt_from_argument_or_file() -> None:
    assert Airspace.from_geojson(fc()).max_alt_m == 120.0
    assert Airspace.from_geojson(fc(max_alt_m=90)).max_alt_m == 90.0
    assert Airspace.from_geojson(fc(max_alt_m=90), max_alt_m=100.0).max_alt_m == 100.0
    with pytest.raises(AltitudeError):
        Airspace(max_alt_m=0.0)


def test_to_geojson_round_trips() -> None:
    a = Airspace.from_geojson(EXAMPLE)
    out = a.to_geojson()
    json.dumps(out)  # plain JSON
    b = Airspace.from_geojson(out)
    assert b.zones == a.zones
    assert b.service_areas == a.service_areas
    assert b.max_alt_m == a.max_alt_m
    for z1, z2 in zip(a.zones, b.zones, strict=True):
        assert z1.geometry.equals_exact(z2.geometry, 1e-12)
        assert z1.properties == z2.properties
    event = next(f for f in out["features"] if f["properties"]["kind"] == "event")
    assert event["properties"]["active_from"] == "2026-08-17T06:00:00+07:00"


def test_circle_polygon_circumscribes_the_circle() -> None:
    a = Airspace.from_geojson(fc(circle(*KUDUS, 1000.0, name="c", kind="prison")))
    z = a.zones[0]
    az = np.linspace(0, 360, 721)
    lat, lon = destination(np.full(721, KUDUS[0]), np.full(721, KUDUS[1]), az, 999.9)
    assert all(z.geometry.contains(Point(x, y)) for x, y in zip(lon, lat, strict=True))
    lat, lon = destination(np.full(721, KUDUS[0]), np.full(721, KUDUS[1]), az, 1002.0)
    assert not any(z.geometry.contains(Point(x, y)) for x, y in zip(lon, lat, strict=True))


def test_multipolygon_zone() -> None:
    sq1 = square(-6.80, 110.84, 0.002)["geometry"]["coordinates"]
    sq2 = square(-6.80, 110.86, 0.002)["geometry"]["coordinates"]
    a = Airspace.from_geojson(fc(feature({"type": "MultiPolygon", "coordinates": [sq1, sq2]}, name="m", kind="military")))
    assert a.zone_at(-6.80, 110.84).name == "m"  # type: ignore[union-attr]
    assert a.zone_at(-6.80, 110.86).name == "m"  # type: ignore[union-attr]
    assert a.zone_at(-6.80, 110.85) is None


# ---- validation ---------------------------------------------------------------------------------

BOW_TIE = feature(
    {"type": "Polygon", "coordinates": [[[110.80, -6.80], [110.81, -6.81], [110.81, -6.80], [110.80, -6.81], [110.80, -6.80]]]},
    name="Bow tie", kind="prison",
)


@pytest.mark.parametrize(
    ("features", "needle"),
    [
        ([BOW_TIE], "feature 0 ('Bow tie'): invalid polygon: Self-intersection"),
        ([circle(-96.0, 110.8, 100, name="Far", kind="event")], "feature 0 ('Far'): latitude -96.0 out of range"),
        ([circle(-6.8, 190.0, 100, name="East", kind="event")], "feature 0 ('East'): longitude 190.0 out of range"),
        ([feature({"type": "Point", "coordinates": [110.8, -6.8]}, name="Dot", kind="prison")],
         "feature 0 ('Dot'): a Point zone needs a radius_m"),
        ([circle(-6.8, 110.8, -5, name="Neg", kind="prison")], "feature 0 ('Neg'): radius_m must be a positive number"),
        ([circle(-6.8, 110.8, 100, name="Zoo", kind="zoo")], "feature 0 ('Zoo'): unknown kind 'zoo'"),
        ([circle(-6.8, 110.8, 100, kind="prison")], "feature 0: properties.name is missing"),
        ([circle(-6.8, 110.8, 100, name="Naive", kind="event", active_from="2026-08-17T06:00:00")],
         "feature 0 ('Naive'): active_from '2026-08-17T06:00:00' has no UTC offset"),
        ([circle(-6.8, 110.8, 100, name="Garbled", kind="event", active_until="tomorrow")],
         "active_until 'tomorrow' is not an ISO-8601 datetime"),
        ([circle(-6.8, 110.8, 100, name="Back", kind="event", active_from="2026-08-17T10:00:00+07:00",
                 active_until="2026-08-17T06:00:00+07:00")], "feature 0 ('Back'): active_from"),
        ([circle(-6.8, 110.8, 100, name="Upside", kind="prison", floor_m=80, ceiling_m=40)],
         "feature 0 ('Upside'): floor_m 80.0 must be below ceiling_m 40.0"),
        ([feature({"type": "Polygon", "coordinates": [[[110.8, -6.8], [110.81, -6.8], [110.81, -6.81], [110.8, -6.81]]]},
                  name="Open", kind="prison")], "feature 0 ('Open'): ring 0 is not closed"),
        ([feature({"type": "LineString", "coordinates": [[110.8, -6.8], [110.81, -6.8]]}, name="Line", kind="prison")],
         "feature 0 ('Line'): geometry type 'LineString' not supported"),
        ([circle(-6.8, 110.8, 100, name="A", kind="prison"), circle(-6.9, 110.8, 100, name="A", kind="prison")],
         "feature 1 ('A'): duplicate zone name (also feature 0)"),
        ([circle(-6.8, 110.8, 100, name="S", kind="service_area")], "feature 0 ('S'): a service_area needs a base"),
        (["not a feature"], "feature 0: is not a GeoJSON Feature object"),
        ([feature({"type": "Polygon", "coordinates": [[[110.8, -6.8], [110.81, -6.8], [110.81, -96.0], [110.8, -6.8]]]},
                  name="South pole", kind="military")], "feature 0 ('South pole'): latitude -96.0 out of range"),
        ([feature({"type": "MultiPolygon", "coordinates": [square(-6.80, 110.84, 0.002)["geometry"]["coordinates"],
                                                           BOW_TIE["geometry"]["coordinates"]]},
                  name="Twin", kind="military")], "feature 0 ('Twin'): invalid polygon: Self-intersection"),
        ([feature({"type": "MultiPolygon", "coordinates": [square(-6.80, 110.84, 0.002)["geometry"]["coordinates"],
                                                           square(-6.80, 110.841, 0.002)["geometry"]["coordinates"]]},
                  name="Overlap", kind="military")], "feature 0 ('Overlap'): invalid polygon"),
    ],
)
def test_invalid_features_are_rejected_naming_the_feature(features: list[Any], needle: str) -> None:
    with pytest.raises(AirspaceError) as err:
        Airspace.from_geojson(fc(*features))
    assert needle in str(err.value)
    assert isinstance(err.value, ValueError)


def test_all_problems_are_reported_at_once() -> None:
    ok = circle(-6.8, 110.8, 100, name="Fine", kind="prison")
    bad = fc(ok, BOW_TIE, circle(-6.8, 110.8, 100, name="Zoo", kind="zoo"))
    with pytest.raises(AirspaceError) as err:
        Airspace.from_geojson(bad)
    assert len(err.value.problems) == 2
    assert err.value.problems[0].startswith("feature 1 ('Bow tie')")
    assert err.value.problems[1].startswith("feature 2 ('Zoo')")
    assert "2 problem(s)" in str(err.value)


@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        ('{"type": "FeatureCollection", "features": [', "invalid JSON"),
        ({"type": "Feature", "geometry": None, "properties": {}}, "expected a GeoJSON FeatureCollection, got 'Feature'"),
        ({"type": "FeatureCollection", "features": {}}, "features must be a list"),
        ("/nonexistent/airspace.geojson", "cannot read /nonexistent/airspace.geojson"),
        (42, "expected a GeoJSON dict, JSON text or a path"),
    ],
)
def test_invalid_documents_are_rejected(obj: Any, needle: str) -> None:
    with pytest.raises(AirspaceError, match="airspace") as err:
        Airspace.from_geojson(obj)
    assert needle in str(err.value)


def test_a_file_that_is_not_json(tmp_path: Path) -> None:
    p = tmp_path / "a.geojson"
    p.write_text("not json", encoding="utf-8")
    with pytest.raises(AirspaceError, match="is not valid JSON"):
        Airspace.from_geojson(p)


# ---- queries ------------------------------------------------------------------------------------


def make_airspace() -> Airspace:
    return Airspace.from_geojson(
        fc(
            circle(-6.80, 110.80, 500, name="Prison", kind="prison"),
            circle(-6.85, 110.80, 400, name="Low", kind="government", ceiling_m=50),
            circle(-6.90, 110.80, 400, name="High", kind="military", floor_m=80),
            square(-6.80, 110.90, 0.003, name="Fair", kind="event", active_from="2026-08-17T06:00:00+07:00",
                   active_until="2026-08-17T13:00:00+07:00"),
            circle(-6.82, 110.85, 15_000, name="Base A area", kind="service_area", base="a"),
            circle(-6.82, 111.02, 5_000, name="Base B area", kind="service_area", base="b"),
        ),
        max_alt_m=110.0,
    )


def test_check_reports_zone_kind_and_reason() -> None:
    a = make_airspace()
    v = a.check(-6.80, 110.80)
    assert not v and v.code == "zone" and v.zone == "Prison" and v.kind == "prison"
    assert v.reason == "inside prison zone 'Prison'"
    assert a.check(-6.80, 110.81).flyable  # 1.1 km east: outside
    assert a.zone_at(-6.80, 110.80) == a.zone("Prison")


def test_floor_and_ceiling() -> None:
    a = make_airspace()
    assert not a.check(-6.85, 110.80, alt_m=30.0).flyable
    assert a.check(-6.85, 110.80, alt_m=60.0).flyable  # above the ceiling
    assert a.check(-6.90, 110.80, alt_m=60.0).flyable  # below the floor
    assert not a.check(-6.90, 110.80, alt_m=90.0).flyable
    # alt_m=None: every altitude counts
    assert a.check(-6.85, 110.80).zone == "Low"
    assert a.check(-6.90, 110.80).zone == "High"


def test_max_altitude() -> None:
    a = make_airspace()
    v = a.check(-6.95, 110.95, alt_m=111.0)
    assert not v.flyable and v.code == "max_altitude" and "110.0" in v.reason
    assert a.check(-6.95, 110.95, alt_m=110.0).flyable
    with pytest.raises(ValueError, match="alt_m"):
        a.check(-6.95, 110.95, alt_m=-1.0)


def test_active_window() -> None:
    a = make_airspace()
    before = datetime(2026, 8, 17, 5, 59, tzinfo=WIB)
    start = datetime(2026, 8, 16, 23, 0, tzinfo=timezone.utc)  # == 06:00 WIB
    end = datetime(2026, 8, 17, 13, 0, tzinfo=WIB)
    assert a.check(-6.80, 110.90, at=before).flyable
    assert not a.check(-6.80, 110.90, at=start).flyable  # inclusive start, any timezone
    assert a.check(-6.80, 110.90, at=end).flyable  # exclusive end
    assert [z.name for z in a.active_zones(before)] == ["Prison", "Low", "High"]
    assert "Fair" in [z.name for z in a.active_zones(before, until=start)]
    with pytest.raises(ValueError, match="timezone-aware"):
        a.check(-6.80, 110.90, at=datetime(2026, 8, 17, 9, 0))


def test_flyable_now_by_default() -> None:
    """Without ``at`` the queries use the current time: a window around now counts, one that
    ended an hour ago does not."""
    now = datetime.now(timezone.utc)
    a = Airspace.from_geojson(fc(
        circle(-6.80, 110.80, 300, name="Now", kind="event", active_from=(now - timedelta(hours=1)).isoformat(),
               active_until=(now + timedelta(hours=1)).isoformat()),
        circle(-6.90, 110.80, 300, name="Over", kind="event", active_from=(now - timedelta(hours=3)).isoformat(),
               active_until=(now - timedelta(hours=1)).isoformat()),
    ))  # fmt: skip
    assert a.check(-6.80, 110.80).zone == "Now"
    assert a.check(-6.90, 110.80).flyable
    assert [z.name for z in a.active_zones()] == ["Now"]
    assert a.nearest_flyable(-6.80, 110.80).moved and not a.nearest_flyable(-6.90, 110.80).moved


def test_service_areas() -> None:
    a = make_airspace()
    assert a.bases_serving(-6.82, 110.85) == ("a",)
    assert a.bases_serving(-6.82, 110.98) == ("a", "b")  # both (A's 15 km circle reaches)
    assert a.bases_serving(-6.82, 111.05) == ("b",)
    assert a.bases_serving(-6.40, 110.85) == ()
    assert a.in_service_area(-6.82, 110.85, "a") and not a.in_service_area(-6.82, 110.85, "b")
    with pytest.raises(KeyError, match="no service area defined for base 'c'"):
        a.in_service_area(-6.82, 110.85, "c")
    # service areas are not no-fly zones
    assert a.check(-6.82, 110.85).flyable


def test_query_input_validation() -> None:
    a = make_airspace()
    with pytest.raises(ValueError, match="latitude"):
        a.check(110.8, -6.8)
    with pytest.raises(ValueError, match="margin_m"):
        a.nearest_flyable(-6.80, 110.80, margin_m=-1.0)


def test_zone_built_in_code() -> None:
    z = Zone("Z", "prison", Point(110.8, -6.8).buffer(0.001))
    a = Airspace((z,))
    assert a.zone_at(-6.8, 110.8) == z
    with pytest.raises(AirspaceError, match="unknown kind"):
        Airspace((Zone("Y", "zoo", Point(110.8, -6.8).buffer(0.001)),))
    with pytest.raises(AirspaceError, match="duplicate"):
        Airspace((z, z))


# ---- nearest flyable point ----------------------------------------------------------------------


@pytest.mark.parametrize("margin_m", [0.0, 50.0, 120.0])
def test_nearest_flyable_from_inside_a_circle(margin_m: float) -> None:
    a = make_airspace()
    p = a.nearest_flyable(-6.80, 110.80, margin_m=margin_m)
    assert p.moved and p.zone == "Prison"
    # the circle's polygon circumscribes 500 m (by at most 0.12 %), then the margin
    assert 500.0 + margin_m <= p.distance_m <= 500.0 * 1.0013 + margin_m + 0.01
    assert a.check(p.lat_deg, p.lon_deg).flyable
    # and it is accepted by the router as a goal with the same margin
    r = plan_route((-6.79, 110.75), (p.lat_deg, p.lon_deg), a, margin_m=margin_m)
    assert r.waypoints[-1].lat_deg == p.lat_deg


def test_nearest_flyable_is_the_nearest_among_boundary_samples() -> None:
    a = make_airspace()
    inc = (-6.8005, 110.9010)  # inside the Fair square, off centre
    p = a.nearest_flyable(*inc, margin_m=50.0, at=DURING)
    frame = a.frame
    assert frame is not None
    hull = grow_hull(a.xy(frame).geoms[a.zones.index(a.zone("Fair"))], 50.0)
    # no point on the hull boundary is nearer than the answer (up to a millimetre)
    ring = hull.exterior
    q = Point(frame.to_xy(*inc))
    best = min(q.distance(ring.interpolate(t, normalized=True)) for t in np.linspace(0, 1, 4001))
    assert p.distance_m <= best + 0.01
    assert not hull.intersects(Point(frame.to_xy(p.lat_deg, p.lon_deg)))


def test_nearest_flyable_of_a_flyable_point_is_itself() -> None:
    a = make_airspace()
    p = a.nearest_flyable(-6.95, 110.95, margin_m=50.0)
    assert (p.lat_deg, p.lon_deg, p.distance_m, p.moved, p.zone) == (-6.95, 110.95, 0.0, False, None)
    # inactive zones and zones outside the altitude do not count
    assert not a.nearest_flyable(-6.80, 110.90, margin_m=50.0, at=AFTER).moved
    assert not a.nearest_flyable(-6.85, 110.80, margin_m=50.0, alt_m=60.0).moved
    # inside the margin only: moved by less than the margin
    lat, lon = destination(-6.80, 110.80, 90.0, 520.0)
    p = a.nearest_flyable(lat, lon, margin_m=50.0)
    assert p.moved and p.zone == "Prison" and p.distance_m < 50.0


def test_nearest_flyable_with_overlapping_zones_leaves_all_of_them() -> None:
    # a chain of overlapping circles: the nearest point outside one is inside the next
    feats = [circle(-6.80, 110.80 + k * 0.006, 400, name=f"c{k}", kind="government") for k in range(6)]
    a = Airspace.from_geojson(fc(*feats))
    p = a.nearest_flyable(-6.80, 110.815, margin_m=50.0)
    frame = a.frame
    assert frame is not None
    pt = Point(frame.to_xy(p.lat_deg, p.lon_deg))
    for g in a.xy(frame).geoms:
        assert pt.distance(g) >= 50.0 - 1e-6
    # the chain runs east-west: the nearest way out is due north or south through the waist
    # between two circles grown by the margin: sqrt(450**2 - 332**2) = 304 m away
    assert abs(p.lon_deg - 110.815) < 1e-6
    assert 270.0 < p.distance_m < 310.0


def test_route_from_a_nearest_flyable_point_leaves_the_zone_legally() -> None:
    a = Airspace.from_geojson(EXAMPLE)
    p = a.nearest_flyable(*KUDUS, margin_m=50.0, at=DURING)
    r = plan_route((-6.8262, 110.8452), (p.lat_deg, p.lon_deg), a, at=DURING)
    frame = r.frame
    assert frame is not None
    lat = np.array([w.lat_deg for w in r.waypoints])
    lon = np.array([w.lon_deg for w in r.waypoints])
    line = LineString(np.column_stack(frame.to_xy(lat, lon)))
    zone_xy = a.xy(frame).geoms[a.zones.index(a.zone_at(*KUDUS, at=DURING))]  # type: ignore[arg-type]
    assert line.distance(zone_xy) >= 50.0 - 0.01
    assert math.isclose(float(distance_m(*KUDUS, p.lat_deg, p.lon_deg)), p.distance_m)


def test_airspace_copy_is_independent_of_input_dict() -> None:
    doc = fc(circle(-6.80, 110.80, 500, name="Prison", kind="prison", operator="Kemenkumham"))
    keep = copy.deepcopy(doc)
    a = Airspace.from_geojson(doc)
    doc["features"][0]["properties"]["radius_m"] = 1
    assert a.zones[0].radius_m == 500.0
    assert a.to_geojson()["features"][0]["properties"]["operator"] == "Kemenkumham"
    assert keep["features"][0]["properties"]["radius_m"] == 500
