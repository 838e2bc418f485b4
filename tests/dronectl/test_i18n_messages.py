"""User-facing text: WS events carry the reason as human text (Indonesian by default, English per
connection) next to its code; Indonesian validation messages contain no English words."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Callable

from websockets.asyncio.client import ClientConnection, connect

from dronectl.api.i18n import field_reason, localize_reason, pick_language_ws
from tests.dronectl.conftest import TOKENS, Live, auth


async def events_until(ws: ClientConnection, pred: Callable[[dict[str, Any]], bool], timeout_s: float = 30.0
                       ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
            f = json.loads(await ws.recv())
        if pred(f):
            return dict(f)


def _aborted(f: dict[str, Any]) -> bool:
    return f.get("type") == "mission_state" and f.get("to_state") in ("aborted", "returning") and bool(
        f.get("reason_code"))


async def test_ws_event_reasons_in_the_clients_language(live: Live, report: Any) -> None:
    base = f"{live.ws_url}?token={TOKENS['dispatcher']}"
    async with connect(base) as ws_id, connect(base + "&lang=en") as ws_en, \
            connect(base, additional_headers={"Accept-Language": "en-GB,en;q=0.9"}) as ws_hdr:
        for ws in (ws_id, ws_en, ws_hdr):
            assert json.loads(await ws.recv())["type"] == "hello"
        r = await live.client.post("/api/reports", json=report(), headers=auth("integration"))
        assert r.status_code == 201 and r.json()["mission_id"], r.text
        incident = r.json()["incident_id"]
        r = await live.client.post(f"/api/incidents/{incident}/abort", headers=auth("dispatcher"))
        assert r.status_code in (200, 202), r.text
        f_id, f_en, f_hdr = [await events_until(ws, _aborted) for ws in (ws_id, ws_en, ws_hdr)]
    assert f_id["reason_code"] == f_en["reason_code"] == f_hdr["reason_code"] == "aborted_by_operator"
    assert f_id["reason"].startswith("Dibatalkan oleh operator"), f_id
    assert f_en["reason"].startswith("Aborted by the operator"), f_en
    assert f_hdr["reason"] == f_en["reason"]
    for f in (f_id, f_en):
        assert "{" not in f["reason"] and "code" not in f["reason"]  # text, not a JSON object


def test_localize_reason_and_language_choice() -> None:
    stored = json.dumps({"code": "redirected", "params": {"lat_deg": -6.8, "lon_deg": 110.84}})
    assert localize_reason({"type": "x", "reason": stored}, "id") == {
        "type": "x", "reason": "Dialihkan ke -6.8, 110.84", "reason_code": "redirected"}
    assert localize_reason({"type": "x", "reason": stored}, "en")["reason"] == "Redirected to -6.8, 110.84"
    assert localize_reason({"type": "x", "reason": None}, "en") == {"type": "x", "reason": None,
                                                                    "reason_code": None}
    assert localize_reason({"type": "telemetry"}, "en") == {"type": "telemetry"}
    assert pick_language_ws("en", None) == "en" and pick_language_ws(None, "en-US") == "en"
    assert pick_language_ws("id", "en") == "id" and pick_language_ws(None, None) == "id"


def test_enum_choices_joined_with_atau_in_indonesian() -> None:
    err = {"type": "enum", "msg": "Input should be 'a', 'b' or 'c'", "ctx": {"expected": "'a', 'b' or 'c'"}}
    assert field_reason(err, "id") == "harus salah satu dari: a, b atau c"
    assert field_reason(err, "en") == "must be one of: a, b or c"


async def test_bad_category_message_is_all_indonesian(live: Live, report: Any) -> None:
    r = await live.client.post("/api/reports", json=report(category="ufo"), headers=auth("integration"))
    assert r.status_code == 422
    err = r.json()["error"]
    text = err["message"] + " " + " ".join(f["reason"] for f in err["fields"])
    assert "public_order atau other" in text and " or " not in text, text
    r = await live.client.post("/api/reports", json=report(category="ufo"),
                               headers={**auth("integration"), "Accept-Language": "en"})
    assert "public_order or other" in " ".join(f["reason"] for f in r.json()["error"]["fields"])
