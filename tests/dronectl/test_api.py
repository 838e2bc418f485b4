"""The HTTP API over real HTTP (uvicorn on a free port) with a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from dronectl.gateway import FlightMode
from tests.dronectl.conftest import TOKENS, Live, auth

Report = Callable[..., dict[str, Any]]


def db_counts(live: Live) -> tuple[int, int, int]:
    con = sqlite3.connect(live.service.settings.db_path)
    try:
        return tuple(con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # type: ignore[return-value]
                     for t in ("reports", "incidents", "missions"))
    finally:
        con.close()


async def test_report_is_on_disk_before_201_and_dispatched(live: Live, report: Report) -> None:
    r = await live.client.post("/api/reports", json=report(), headers=auth("integration"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "dispatched" and body["mission_id"] is not None
    # Read with an independent connection: committed, with phone and NIK masked.
    con = sqlite3.connect(live.service.settings.db_path)
    row = con.execute("SELECT caller_phone_masked, caller_nik_masked, incident_id FROM reports").fetchone()
    con.close()
    assert row == ("0812******90", "331901********90", body["incident_id"])
    assert "081234567890" not in (live.service.settings.db_path.read_bytes().decode("latin-1"))


@pytest.mark.parametrize(
    "mutate,field,fragment_id",
    [
        (lambda b: b["location"].update(lat=95.0), "location.lat", "harus <= 90"),
        (lambda b: b["location"].update(lon=-181), "location.lon", "harus >= -180"),
        (lambda b: b.update(category="alien"), "category", "harus salah satu dari"),
        (lambda b: b.update(priority=0), "priority", "harus >= 1"),
        (lambda b: b.update(priority=6), "priority", "harus <= 5"),
        (lambda b: b.pop("location"), "location", "wajib diisi"),
        (lambda b: b.pop("category"), "category", "wajib diisi"),
        (lambda b: b.update(channel="fax"), "channel", "harus salah satu dari"),
        (lambda b: b.update(caller_nik="12345"), "caller_nik", "format tidak valid"),
        (lambda b: b.update(extra="x"), "extra", "kolom tidak dikenal"),
        (lambda b: b["location"].update(lat="north"), "location.lat", "harus berupa angka"),
    ],
)
async def test_bad_reports_are_refused_naming_the_field(live: Live, report: Report, mutate: Callable[[dict[str, Any]], Any],
                                                        field: str, fragment_id: str) -> None:
    body = report()
    mutate(body)
    r = await live.client.post("/api/reports", json=body, headers=auth("integration"))
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    assert any(f["field"] == field and fragment_id in f["reason"] for f in err["fields"]), err
    assert field in err["message"]
    assert db_counts(live) == (0, 0, 0)  # nothing half-written


async def test_errors_in_english_on_request(live: Live, report: Report) -> None:
    body = report()
    body["location"]["lat"] = -100
    r = await live.client.post("/api/reports", json=body,
                               headers={**auth("integration"), "Accept-Language": "en-US,en;q=0.9"})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "Invalid data: location.lat: must be >= -90.0"


async def test_invalid_json_body(live: Live) -> None:
    r = await live.client.post("/api/reports", content=b"{not json", headers={**auth("integration"),
                                                                              "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["reason"] == "JSON tidak valid"
    assert db_counts(live) == (0, 0, 0)


async def test_oversized_body_is_413_with_message(live: Live, report: Report) -> None:
    body = report(description="x" * 3900, address="y" * 490)
    body["padding"] = "z" * 20_000
    r = await live.client.post("/api/reports", json=body, headers=auth("integration"))
    assert r.status_code == 413
    assert "terlalu besar" in r.json()["error"]["message"] and "16384" in r.json()["error"]["message"]

    async def chunks() -> Any:  # no Content-Length: counted as it streams
        for _ in range(40):
            yield b"x" * 1000

    r = await live.client.post("/api/reports", content=chunks(), headers={**auth("integration"),
                                                                          "Accept-Language": "en"})
    assert r.status_code == 413 and "too large" in r.json()["error"]["message"]
    assert db_counts(live) == (0, 0, 0)


@pytest.mark.parametrize("headers,code", [
    ({}, "not_authenticated"),
    ({"Authorization": "Bearer wrong-token-0000000000"}, "bad_token"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "bad_token"),
])
async def test_bad_token_is_401(live: Live, report: Report, headers: dict[str, str], code: str) -> None:
    r = await live.client.post("/api/reports", json=report(), headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == code
    assert r.headers["www-authenticate"] == "Bearer"
    assert db_counts(live) == (0, 0, 0)


async def test_roles(live: Live, report: Report) -> None:
    c = live.client
    # Officers cannot post reports or operate; integration cannot read incidents.
    r = await c.post("/api/reports", json=report(), headers=auth("officer_andi"))
    assert r.status_code == 403 and "officer" in r.json()["error"]["message"]
    r = await c.post("/api/reports", json=report(), headers=auth("integration"))
    inc = r.json()["incident_id"]
    assert (await c.get("/api/incidents", headers=auth("integration"))).status_code == 403
    assert (await c.post(f"/api/incidents/{inc}/abort", headers=auth("officer_andi"))).status_code == 403
    assert (await c.get("/api/drones", headers=auth("officer_andi"))).status_code == 403
    for role in ("dispatcher", "admin"):
        assert (await c.get("/api/incidents", headers=auth(role))).status_code == 200
        assert (await c.get("/api/drones", headers=auth(role))).status_code == 200
    assert (await c.get("/api/airspace", headers=auth("officer_andi"))).status_code == 200


async def test_officer_reads_only_assigned_incidents(live: Live, report: Report) -> None:
    c = live.client
    a = (await c.post("/api/reports", json=report(), headers=auth("integration"))).json()["incident_id"]
    b = (await c.post("/api/reports", json=report(location={"lat": -6.7800, "lon": 110.8417}),
                      headers=auth("integration"))).json()["incident_id"]
    r = await c.post(f"/api/incidents/{a}/assign", json={"officer": "andi"}, headers=auth("dispatcher"))
    assert r.status_code == 200 and r.json()["incident"]["assigned_officer"] == "andi"
    assert (await c.get(f"/api/incidents/{a}", headers=auth("officer_andi"))).status_code == 200
    r = await c.get(f"/api/incidents/{b}", headers=auth("officer_andi"))
    assert r.status_code == 403 and r.json()["error"]["message"] == f"Kejadian {b} tidak ditugaskan kepada Anda"
    r = await c.get(f"/api/incidents/{a}", headers=auth("officer_budi"))
    assert r.status_code == 403
    listing = (await c.get("/api/incidents", headers=auth("officer_andi"))).json()["incidents"]
    assert [i["id"] for i in listing] == [a]
    assert (await c.get("/api/incidents", headers=auth("officer_budi"))).json()["incidents"] == []
    # Missions follow their incident.
    ma = (await c.get(f"/api/incidents/{a}", headers=auth("dispatcher"))).json()["mission_id"]
    mb = (await c.get(f"/api/incidents/{b}", headers=auth("dispatcher"))).json()["mission_id"]
    assert (await c.get(f"/api/missions/{ma}", headers=auth("officer_andi"))).status_code == 200
    assert (await c.get(f"/api/missions/{mb}", headers=auth("officer_andi"))).status_code == 403


async def test_idempotent_external_id(live: Live, report: Report) -> None:
    body = report(external_id="CC-2026-000123")
    r1 = await live.client.post("/api/reports", json=body, headers=auth("integration"))
    r2 = await live.client.post("/api/reports", json=body, headers=auth("integration"))
    assert r1.status_code == r2.status_code == 201
    assert r2.headers.get("idempotent-replay") == "true"
    for k in ("report_id", "incident_id", "mission_id"):
        assert r1.json()[k] == r2.json()[k]
    assert db_counts(live) == (1, 1, 1)
    # Same id, different content: refused, nothing written.
    r3 = await live.client.post("/api/reports", json=report(external_id="CC-2026-000123", priority=3),
                                headers=auth("integration"))
    assert r3.status_code == 409 and "CC-2026-000123" in r3.json()["error"]["message"]
    assert db_counts(live) == (1, 1, 1)


async def test_duplicate_reports_merge(live: Live, report: Report) -> None:
    r1 = (await live.client.post("/api/reports", json=report(), headers=auth("integration"))).json()
    r2 = (await live.client.post("/api/reports", json=report(location={"lat": -6.8250, "lon": 110.8407}),
                                 headers=auth("integration"))).json()
    assert r2["merged"] and r2["incident_id"] == r1["incident_id"] and r2["mission_id"] == r1["mission_id"]
    inc = (await live.client.get(f"/api/incidents/{r1['incident_id']}", headers=auth("dispatcher"))).json()
    assert inc["report_count"] == 2 and len(inc["reports"]) == 2
    assert inc["reports"][0]["caller_phone"] == "0812******90"
    assert db_counts(live) == (2, 1, 1)


async def test_outside_every_service_area(live: Live, report: Report) -> None:
    r = await live.client.post("/api/reports", json=report(location={"lat": -7.30, "lon": 110.84}),
                               headers=auth("integration"))
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "unreachable" and body["mission_id"] is None
    assert body["reason_code"] == "outside_service_area"
    assert body["reason"].startswith("Tidak ada drone yang dapat menjangkau")
    r = await live.client.get(f"/api/incidents/{body['incident_id']}",
                              headers={**auth("dispatcher"), "Accept-Language": "en"})
    assert r.json()["reason"].startswith("No drone can reach: the location is outside every service area")
    assert db_counts(live) == (1, 1, 0)
    # An operator's dispatch explains why not.
    r = await live.client.post(f"/api/incidents/{body['incident_id']}/dispatch", headers=auth("dispatcher"))
    assert r.status_code == 409 and "wilayah layanan" in r.json()["error"]["message"]


async def test_manual_dispatch_and_operator_actions(live: Live, report: Report) -> None:
    c, gw = live.client, live.gateway
    r = (await c.post("/api/reports", json=report(priority=4), headers=auth("integration"))).json()
    assert r["status"] == "pending" and r["mission_id"] is None and r["reason_code"] == "awaiting_operator"
    inc = r["incident_id"]
    r = await c.post(f"/api/incidents/{inc}/dispatch", json={"drone_id": "kudus-2"}, headers=auth("dispatcher"))
    assert r.status_code == 200, r.text
    mid = r.json()["mission_id"]
    m = (await c.get(f"/api/missions/{mid}", headers=auth("dispatcher"))).json()
    assert m["drone_id"] == "kudus-2"

    async def state() -> str:
        return str((await c.get(f"/api/missions/{mid}", headers=auth("dispatcher"))).json()["state"])

    for _ in range(200):
        if await state() == "en_route":
            break
        await asyncio.sleep(0.02)
    assert await state() == "en_route"
    assert (await c.post(f"/api/incidents/{inc}/hold", headers=auth("dispatcher"))).status_code == 200
    assert (await c.post(f"/api/incidents/{inc}/resume", headers=auth("dispatcher"))).status_code == 200
    r = await c.post(f"/api/incidents/{inc}/redirect", json={"location": {"lat": -6.826, "lon": 110.842}},
                     headers=auth("dispatcher"))
    assert r.status_code == 200, r.text
    r = await c.post(f"/api/incidents/{inc}/redirect", json={"location": {"lat": 91, "lon": 110.842}},
                     headers=auth("dispatcher"))
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "location.lat"
    assert (await c.post(f"/api/incidents/{inc}/abort", headers=auth("dispatcher"))).status_code == 200
    assert gw.actions("kudus-2") == ["upload_mission", "arm", "start_mission", "hold", "start_mission",
                                     "upload_mission", "start_mission", "return_to_launch"]
    m = (await c.get(f"/api/missions/{mid}", headers=auth("dispatcher"))).json()
    assert m["state"] == "aborted" and [t["to"] for t in m["transitions"]][-1] == "aborted"
    r = await c.post(f"/api/incidents/{inc}/abort", headers=auth("dispatcher"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_active_mission"
    r = await c.post("/api/incidents/9999/dispatch", headers=auth("dispatcher"))
    assert r.status_code == 404 and r.json()["error"]["message"] == "Kejadian 9999 tidak ditemukan"


async def test_drones_missions_plan_track_airspace_probes(live: Live, report: Report) -> None:
    c, gw = live.client, live.gateway
    d = (await c.get("/api/drones", headers=auth("dispatcher"))).json()["drones"]
    assert {x["id"] for x in d} == {"kudus-1", "kudus-2", "jati-1"} and all(x["available"] for x in d)
    r = (await c.post("/api/reports", json=report(), headers=auth("integration"))).json()
    mid = r["mission_id"]
    drone = (await c.get(f"/api/missions/{mid}", headers=auth("dispatcher"))).json()["drone_id"]
    one = (await c.get(f"/api/drones/{drone}", headers=auth("dispatcher"))).json()
    assert one["mission_id"] == mid and one["available"] is False
    assert one["telemetry"]["link"] == "connected"
    assert (await c.get("/api/drones/nope", headers=auth("dispatcher"))).status_code == 404
    plan = (await c.get(f"/api/missions/{mid}/plan", headers=auth("dispatcher"))).json()
    assert plan["fileType"] == "Plan" and plan["mission"]["items"][0]["command"] == 22
    assert plan["mission"]["items"][-1]["command"] == 20
    # Fly a little: the recorder keeps a 1 Hz track of the mission.
    for k in range(3):
        gw.update(drone, lat_deg=-6.827 - 0.001 * k, lon_deg=110.8452, alt_rel_m=60.0, in_air=True)
        await asyncio.sleep(1.05)
    track = (await c.get(f"/api/missions/{mid}/track", headers=auth("dispatcher"))).json()
    coords = track["features"][0]["geometry"]["coordinates"]
    assert len(coords) >= 3 and coords[-1][1] == pytest.approx(-6.829) and coords[-1][2] == 60.0
    air = (await c.get("/api/airspace", headers=auth("dispatcher"))).json()
    assert air["type"] == "FeatureCollection" and air["features"]
    assert (await c.get("/healthz")).json() == {"status": "ok"}
    ready = (await c.get("/readyz")).json()
    assert ready["status"] == "ready" and ready["connected"] == 3
    metrics = (await c.get("/metrics")).text
    assert 'dronectl_reports_total{merged="false"} 1.0' in metrics
    assert 'dronectl_mission_transitions_total{to_state="planned"} 1.0' in metrics
    docs = await c.get("/openapi.json")
    assert "/api/reports" in docs.json()["paths"]
    assert gw.latest(drone).flight_mode is FlightMode.MISSION


async def test_token_in_db_works_and_is_stored_hashed(live: Live, report: Report) -> None:
    from dronectl.config import hash_token

    live.service.store.add_token(hash_token("db-token-abcdefghijklmnop"), "integration", "cli")
    r = await live.client.post("/api/reports", json=report(),
                               headers={"Authorization": "Bearer db-token-abcdefghijklmnop"})
    assert r.status_code == 201
    con = sqlite3.connect(live.service.settings.db_path)
    stored = [row[0] for row in con.execute("SELECT digest FROM tokens")]
    con.close()
    assert stored == [hash_token("db-token-abcdefghijklmnop")]
    assert TOKENS["dispatcher"] not in stored


async def test_officer_escort_permissions(live: Live, report: Report) -> None:
    c = live.client
    inc = (await c.post("/api/reports", json=report(), headers=auth("integration"))).json()["incident_id"]
    body = {"location": {"lat": -6.8249, "lon": 110.8406}}
    r = await c.post(f"/api/incidents/{inc}/escort", json=body, headers=auth("officer_andi"))
    assert r.status_code == 403
    await c.post(f"/api/incidents/{inc}/assign", json={"officer": "andi"}, headers=auth("dispatcher"))
    r = await c.post(f"/api/incidents/{inc}/escort", json=body,
                     headers={**auth("officer_andi"), "Accept-Language": "en"})
    assert r.status_code == 409 and r.json()["error"]["message"].startswith("Escort starts only once the drone is on scene")
    assert (await c.post(f"/api/incidents/{inc}/abort", headers=auth("officer_andi"))).status_code == 403


async def test_unknown_paths_and_methods_and_bad_path_params(live: Live) -> None:
    r = await live.client.get("/api/nothing", headers=auth("dispatcher"))
    assert r.status_code == 404 and r.json()["error"]["message"] == "Alamat /api/nothing tidak ada"
    r = await live.client.delete("/api/reports", headers={**auth("dispatcher"), "Accept-Language": "en"})
    assert r.status_code == 405 and r.json()["error"]["message"] == "Method DELETE not allowed on /api/reports"
    r = await live.client.get("/api/incidents/abc", headers=auth("dispatcher"))
    assert r.status_code == 422 and r.json()["error"]["fields"][0] == {"field": "incident_id",
                                                                        "reason": "harus berupa bilangan bulat"}


async def test_listen_socket_is_tcp_so_answers_are_not_delayed() -> None:
    import socket

    from dronectl.api.server import listen_socket

    s = listen_socket("127.0.0.1", 0)
    s.listen()
    try:
        # asyncio only sets TCP_NODELAY on accepted connections of an explicit IPPROTO_TCP socket.
        assert s.proto == socket.IPPROTO_TCP and s.getsockname()[1] > 0
        with pytest.raises(OSError):
            listen_socket("127.0.0.1", s.getsockname()[1]).close()  # taken: an OSError, not sys.exit
    finally:
        s.close()
