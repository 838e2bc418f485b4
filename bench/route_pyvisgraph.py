"""Routing benchmark: missions.plan_route against pyvisgraph 0.2.1 on the same polygons.

Random non-overlapping no-fly zones (40 % circles given as Point + radius_m, 60 % star-shaped
polygons of 4-8 vertices; 150-700 m) in the Kudus-Pati area (lat -6.95..-6.60, lon
110.75..111.10), random start/goal pairs outside every zone's 50 m margin.

Both planners get the same obstacles in the same local metric frame: pyvisgraph gets the zones
grown exactly as missions grows them (mitre-joined 50 m margin, plus the 1 mm by which missions'
graph nodes sit outside it), as x/y metres.

Timings
-------
* ours cold: a new ``Airspace`` (from the already-parsed zones) for every query, so every query
  pays for projection, growing the zones, node extraction and the STRtree, like a controller
  that answers a new incident from scratch;
* ours warm: the same ``Airspace`` for all queries (its prepared obstacles are cached), which
  is what the controller actually does between airspace changes;
* pyvisgraph: ``VisGraph.build`` once per zone set (reported separately) plus
  ``shortest_path`` per query. "From scratch" = build + query. pyvisgraph runs in a child
  process with a time limit; what finished is reported, and what did not is said so.

Usage::

    .venv/bin/python bench/route_pyvisgraph.py                   # 10, 100, 500 zones
    .venv/bin/python bench/route_pyvisgraph.py --zones 10 100 --queries 50 --pvg-build-limit 300
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import queue
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import Polygon

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from missions import Airspace, LocalFrame, NoRouteError, plan_route  # noqa: E402

BBOX = (-6.95, -6.60, 110.75, 111.10)  # lat min, lat max, lon min, lon max
MARGIN_M = 50.0


def make_zones(n: int, seed: int) -> dict[str, Any]:
    """n random non-overlapping zones (grown zones do not touch) as a GeoJSON FeatureCollection."""
    rng = np.random.default_rng(seed)
    frame = LocalFrame.for_points(BBOX[:2], BBOX[2:])
    x0, y0 = frame.to_xy(BBOX[0], BBOX[2])
    x1, y1 = frame.to_xy(BBOX[1], BBOX[3])
    placed: list[tuple[float, float, float]] = []
    feats: list[dict[str, Any]] = []
    tries = 0
    while len(feats) < n:
        tries += 1
        if tries > 200 * n:
            raise RuntimeError(f"cannot place {n} zones")
        r = float(rng.uniform(150, 700))
        x, y = float(rng.uniform(x0 + r, x1 - r)), float(rng.uniform(y0 + r, y1 - r))
        if any(math.hypot(x - a, y - b) < r + rr + 2 * MARGIN_M + 100.0 for a, b, rr in placed):
            continue
        placed.append((x, y, r))
        name = f"zone-{len(feats)}"
        if rng.random() < 0.4:
            lat, lon = frame.to_latlon(x, y)
            feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                          "properties": {"name": name, "kind": "government", "radius_m": r}})  # fmt: skip
        else:
            k = int(rng.integers(4, 9))
            while True:  # star-shaped with angles >= 20 degrees apart: a simple polygon
                ang = np.sort(rng.uniform(0, 2 * math.pi, k))
                if np.diff(np.concatenate([ang, [ang[0] + 2 * math.pi]])).min() < math.radians(20):
                    continue
                rad = rng.uniform(0.45, 1.0, k) * r
                lat, lon = frame.to_latlon(x + rad * np.cos(ang), y + rad * np.sin(ang))
                ring = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
                ring.append(ring[0])
                if Polygon(ring).is_valid:
                    break
            feats.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                          "properties": {"name": name, "kind": "prison"}})  # fmt: skip
    return {"type": "FeatureCollection", "features": feats}


def make_pairs(a: Airspace, k: int, seed: int) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    rng = np.random.default_rng(seed + 1000)
    pairs = []
    while len(pairs) < k:
        pts = [(float(rng.uniform(*BBOX[:2])), float(rng.uniform(*BBOX[2:]))) for _ in range(2)]
        if all(not a.nearest_flyable(*p, margin_m=MARGIN_M).moved for p in pts):
            pairs.append((pts[0], pts[1]))
    return pairs


def plane_length(r: Any, frame: LocalFrame) -> float:
    lat = np.array([w.lat_deg for w in r.waypoints])
    lon = np.array([w.lon_deg for w in r.waypoints])
    x, y = frame.to_xy(lat, lon)
    return float(np.hypot(np.diff(x), np.diff(y)).sum())


def _pvg_child(polys: list[list[tuple[float, float]]], pairs_xy: list[Any], out: Any) -> None:
    import pyvisgraph as vg

    t0 = time.perf_counter()
    g = vg.VisGraph()
    g.build([[vg.Point(x, y) for x, y in ring] for ring in polys], workers=1, status=False)
    out.put(("build", time.perf_counter() - t0))
    for s, e in pairs_xy:
        t0 = time.perf_counter()
        path = g.shortest_path(vg.Point(*s), vg.Point(*e))
        dt = time.perf_counter() - t0
        length = sum(math.hypot(b.x - a.x, b.y - a.y) for a, b in zip(path, path[1:], strict=False))
        out.put(("query", dt, length))
    out.put(("done",))


def run_pyvisgraph(
    polys: Any, pairs_xy: Any, build_limit_s: float, query_limit_s: float
) -> tuple[float | None, list[tuple[float, float]], bool]:
    """(build seconds or None, [(query seconds, length)], finished). The build may take
    ``build_limit_s``; the queries then get ``query_limit_s`` together."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_pvg_child, args=(polys, pairs_xy, q), daemon=True)
    p.start()
    deadline = time.monotonic() + build_limit_s
    build: float | None = None
    results: list[tuple[float, float]] = []
    finished = False
    try:
        while time.monotonic() < deadline:
            try:
                msg = q.get(timeout=max(0.05, min(1.0, deadline - time.monotonic())))
            except queue.Empty:
                if not p.is_alive():
                    break
                continue
            if msg[0] == "build":
                build = msg[1]
                deadline = time.monotonic() + query_limit_s
            elif msg[0] == "query":
                results.append((msg[1], msg[2]))
            else:
                finished = True
                break
    finally:
        if p.is_alive():
            p.terminate()
            p.join(5)
            if p.is_alive():
                p.kill()
        p.join()
    return build, results, finished


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def bench(n: int, queries: int, pvg_queries: int, seed: int, pvg_build_limit: float, pvg_query_limit: float) -> dict[str, Any]:
    fc = make_zones(n, seed)
    a = Airspace.from_geojson(fc)
    pairs = make_pairs(a, queries, seed)
    frame = a.frame
    assert frame is not None
    cold: list[float] = []
    warm: list[float] = []
    ours_len: list[float] = []
    is_detour: list[bool] = []
    for s, g in pairs:
        fresh = Airspace(a.zones, a.service_areas, a.max_alt_m)
        t0 = time.perf_counter()
        r = plan_route(s, g, fresh, margin_m=MARGIN_M)
        cold.append(time.perf_counter() - t0)
        plan_route(s, g, a, margin_m=MARGIN_M)  # fill the cache
        t0 = time.perf_counter()
        r2 = plan_route(s, g, a, margin_m=MARGIN_M)
        warm.append(time.perf_counter() - t0)
        assert r2.waypoints == r.waypoints
        ours_len.append(plane_length(r, frame))
        is_detour.append(len(r.waypoints) > 2)
    # pyvisgraph answers the detour queries first (straight lines prove little), then others
    order = sorted(range(len(pairs)), key=lambda i: not is_detour[i])[:pvg_queries]

    grown = a.grown(frame, MARGIN_M)
    polys = []
    for v in grown.verts:
        for part in getattr(v, "geoms", [v]):
            polys.append([tuple(c) for c in part.exterior.coords[:-1]])
    n_vertices = sum(len(p) for p in polys)
    pairs_xy = [(frame.to_xy(*pairs[i][0]), frame.to_xy(*pairs[i][1])) for i in order]
    build, pvg, finished = run_pyvisgraph(polys, pairs_xy, pvg_build_limit, pvg_query_limit)
    ratios = [ours_len[i] / length for i, (_, length) in zip(order, pvg, strict=False) if length > 0]
    return {
        "zones": n, "vertices": n_vertices, "queries": len(pairs), "is_detour": is_detour,
        "cold": cold, "warm": warm, "pvg_build": build, "pvg": pvg, "pvg_finished": finished,
        "pvg_order": order, "pvg_asked": len(pairs_xy), "ratios": ratios,
        "pvg_build_limit": pvg_build_limit, "pvg_query_limit": pvg_query_limit,
    }  # fmt: skip


def report(res: dict[str, Any], prev: dict[str, Any] | None = None) -> None:
    ms = 1e3
    cold, warm, det = res["cold"], res["warm"], res["is_detour"]
    print(f"\n== {res['zones']} zones ({res['vertices']} obstacle vertices), {res['queries']} queries, "
          f"{sum(det)} with a detour ==")  # fmt: skip

    def line(label: str, v: list[float]) -> None:
        if v:
            print(f"{label:38s}: mean {statistics.mean(v) * ms:8.2f} ms   p50 {pct(v, 50) * ms:8.2f}   "
                  f"p95 {pct(v, 95) * ms:8.2f}   max {max(v) * ms:8.2f}")  # fmt: skip

    line("ours cold, all (new Airspace each)", cold)
    line("ours cold, detours only", [t for t, d in zip(cold, det, strict=True) if d])
    line("ours warm, all (cached obstacles)", warm)
    line("ours warm, detours only", [t for t, d in zip(warm, det, strict=True) if d])
    build, pvg = res["pvg_build"], res["pvg"]
    if build is None:
        lim = res["pvg_build_limit"]
        print(f"pyvisgraph: graph build did not finish within the {lim:.0f} s limit "
              f"(time ratio from scratch > {lim / statistics.mean(cold):,.0f}x vs ours cold mean)")  # fmt: skip
        if prev is not None and prev.get("pvg_build"):
            est = prev["pvg_build"] * (res["vertices"] / prev["vertices"]) ** 2
            print(f"  (extrapolated from the {prev['zones']}-zone build, assuming O(V^2): about {est:,.0f} s;"
                  " an estimate, not a measurement)")
        return
    print(f"{'pyvisgraph build (once per zone set)':38s}: {build:10.2f} s")
    if not pvg:
        print(f"pyvisgraph: no query finished within {res['pvg_query_limit']:.0f} s after the build")
        return
    order = res["pvg_order"][: len(pvg)]
    qt = [t for t, _ in pvg]
    n_det = sum(det[i] for i in order)
    done = f"{len(pvg)}/{res['pvg_asked']} queries, {n_det} detours"
    if not res["pvg_finished"]:
        done += f", stopped at the {res['pvg_query_limit']:.0f} s query limit"
    print(f"pyvisgraph query ({done}): mean {statistics.mean(qt) * ms:8.2f} ms   p95 {pct(qt, 95) * ms:8.2f}")
    ours_cold_k = statistics.mean([cold[i] for i in order])
    ours_warm_k = statistics.mean([warm[i] for i in order])
    scratch = build + statistics.mean(qt)
    r = np.asarray(res["ratios"])
    ok_len = "met" if abs(r - 1).max() <= 1e-3 else "NOT met"
    print(f"{'path length ratio ours/pyvisgraph':38s}: mean {r.mean():.6f}   min {r.min():.6f}   max {r.max():.6f}"
          f"   max |ratio - 1| {abs(r - 1).max():.1e}   (target 1.000 +- 0.001: {ok_len})")  # fmt: skip
    ok_t = "met" if scratch / ours_cold_k >= 20 else "NOT met"
    print(f"{'time ratio, from scratch':38s}: {scratch / ours_cold_k:10.0f}x  (pyvisgraph build + query vs ours cold,"
          f" same queries; target >= 20x: {ok_t})")  # fmt: skip
    print(f"{'time ratio, per query':38s}: {statistics.mean(qt) / ours_warm_k:10.0f}x  (pyvisgraph query on its"
          " built graph vs ours warm)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", type=int, nargs="+", default=[10, 100, 500])
    ap.add_argument("--queries", type=int, default=200, help="queries for missions (default 200)")
    ap.add_argument("--pvg-queries", type=int, default=20, help="of those, how many pyvisgraph answers (default 20)")
    ap.add_argument("--pvg-build-limit", type=float, default=600.0, help="seconds pyvisgraph may take to build (600)")
    ap.add_argument("--pvg-query-limit", type=float, default=120.0, help="seconds for its queries after that (120)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}, margin {MARGIN_M:g} m, seed {args.seed}")
    prev = None
    for n in args.zones:
        res = bench(n, args.queries, args.pvg_queries, args.seed, args.pvg_build_limit, args.pvg_query_limit)
        report(res, prev)
        prev = res if res["pvg_build"] is not None else prev
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
