"""The service's user-facing messages: Bahasa Indonesia by default, English on request.

Messages are looked up by code and formatted with named parameters. The language of an HTTP
answer follows ``Accept-Language`` (``en`` for English; anything else gets Indonesian).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "MESSAGES", "pick_language", "pick_language_ws", "t", "render_reason", "localize_reason", "field_reason",
]

MESSAGES: dict[str, dict[str, str]] = {
    # -- request errors --
    "validation_error": {"id": "Data tidak valid: {summary}", "en": "Invalid data: {summary}"},
    "body_too_large": {
        "id": "Isi permintaan terlalu besar ({size} byte; batas {limit} byte)",
        "en": "Request body too large ({size} bytes; limit {limit} bytes)",
    },
    "not_authenticated": {
        "id": "Token akses diperlukan (header Authorization: Bearer <token>)",
        "en": "An access token is required (header Authorization: Bearer <token>)",
    },
    "bad_token": {"id": "Token akses tidak dikenal atau tidak valid", "en": "Unknown or invalid access token"},
    "forbidden_role": {
        "id": "Peran '{role}' tidak boleh melakukan ini (diperlukan: {allowed})",
        "en": "Role '{role}' may not do this (required: {allowed})",
    },
    "incident_not_assigned": {
        "id": "Kejadian {incident_id} tidak ditugaskan kepada Anda",
        "en": "Incident {incident_id} is not assigned to you",
    },
    "http_404": {"id": "Alamat {path} tidak ada", "en": "No such path: {path}"},
    "http_405": {"id": "Metode {method} tidak diizinkan untuk {path}", "en": "Method {method} not allowed on {path}"},
    "not_found": {"id": "{what} {id} tidak ditemukan", "en": "{what} {id} not found"},
    "incident_not_found": {"id": "Kejadian {incident_id} tidak ditemukan", "en": "Incident {incident_id} not found"},
    "mission_not_found": {"id": "Misi {mission_id} tidak ditemukan", "en": "Mission {mission_id} not found"},
    "drone_not_found": {"id": "Drone {drone_id} tidak ditemukan", "en": "Drone {drone_id} not found"},
    "external_id_conflict": {
        "id": "external_id '{external_id}' sudah dipakai untuk laporan dengan isi berbeda",
        "en": "external_id '{external_id}' was already used for a report with different content",
    },
    "already_dispatched": {
        "id": "Kejadian {incident_id} sudah ditangani misi {mission_id}",
        "en": "Incident {incident_id} already has mission {mission_id}",
    },
    "no_active_mission": {
        "id": "Kejadian {incident_id} tidak memiliki misi yang aktif",
        "en": "Incident {incident_id} has no active mission",
    },
    "not_in_flight": {
        "id": "Misi belum/tidak sedang terbang (status: {state})",
        "en": "The mission is not in flight (state: {state})",
    },
    "not_on_scene": {
        "id": "Pendampingan hanya setelah drone tiba di lokasi (status: {state})",
        "en": "Escort starts only once the drone is on scene (state: {state})",
    },
    "escort_blocked": {
        "id": "Posisi petugas {lat_deg}, {lon_deg} tidak dapat dicapai lurus tanpa melintasi zona larangan terbang",
        "en": "The officer's position {lat_deg}, {lon_deg} cannot be reached in a straight line clear of no-fly zones",
    },
    "no_position": {"id": "Posisi drone {drone_id} tidak diketahui", "en": "Position of drone {drone_id} is unknown"},
    "vehicle_refused": {
        "id": "Drone menolak perintah {action}: {detail}",
        "en": "The drone refused {action}: {detail}",
    },
    "drone_cannot_fly": {
        "id": "Drone {drone_id} tidak dapat menangani kejadian ini: {detail}",
        "en": "Drone {drone_id} cannot fly this incident: {detail}",
    },
    "no_drone": {"id": "Tidak ada drone: {reason}", "en": "No drone: {reason}"},
    "redirect_infeasible": {"id": "Pengalihan tidak dapat dilakukan: {reason}", "en": "Cannot redirect: {reason}"},
    "not_ready": {"id": "Layanan belum siap: {detail}", "en": "Service not ready: {detail}"},
    # -- reasons stored on incidents and missions --
    "awaiting_operator": {"id": "Menunggu keputusan operator", "en": "Waiting for an operator's decision"},
    "outside_service_area": {
        "id": "Tidak ada drone yang dapat menjangkau: lokasi di luar semua wilayah layanan "
              "(pangkalan terdekat {base}, {dist_km} km; jangkauan {radius_km} km)",
        "en": "No drone can reach: the location is outside every service area "
              "(nearest base {base}, {dist_km} km away; range {radius_km} km)",
    },
    "no_drone_can_reach": {
        "id": "Tidak ada drone yang dapat menjangkau: {drones}",
        "en": "No drone can reach: {drones}",
    },
    "no_drone_available": {
        "id": "Menunggu drone tersedia: {drones}",
        "en": "Waiting for a drone to become available: {drones}",
    },
    "no_route": {"id": "tidak ada rute legal ({detail})", "en": "no legal route ({detail})"},
    "battery": {
        "id": "baterai tidak cukup: akan mendarat dengan {left_pct}%, di bawah cadangan {reserve_pct}% "
              "(baterai {have_pct}%, waktu di lokasi maksimum {max_onscene_s} detik)",
        "en": "battery too low: would land with {left_pct}%, below the {reserve_pct}% reserve "
              "(battery {have_pct}%, longest affordable time on scene {max_onscene_s} s)",
    },
    "wind": {"id": "angin terlalu kencang ({detail})", "en": "too much wind ({detail})"},
    "busy": {"id": "sedang bertugas", "en": "on another mission"},
    "link_lost": {"id": "sambungan terputus", "en": "link lost"},
    "link_connecting": {"id": "belum tersambung", "en": "not connected yet"},
    "params_unconfirmed": {"id": "parameter keselamatan belum terkonfirmasi", "en": "safety parameters not confirmed"},
    "health": {"id": "pemeriksaan kesehatan belum lolos", "en": "health checks not passed"},
    "airborne": {"id": "masih di udara", "en": "still in the air"},
    "battery_unknown": {"id": "level baterai tidak diketahui", "en": "battery level unknown"},
    "battery_low": {"id": "baterai di bawah batas peluncuran", "en": "battery below the launch minimum"},
    "unavailable": {"id": "tidak tersedia", "en": "unavailable"},
    "vehicle_error": {"id": "perintah {action} gagal: {detail}", "en": "command {action} failed: {detail}"},
    "internal_error": {"id": "kesalahan internal: {detail}", "en": "internal error: {detail}"},
    "aborted_by_operator": {"id": "Dibatalkan oleh operator ({actor})", "en": "Aborted by the operator ({actor})"},
    "returned_before_scene": {
        "id": "Drone kembali sebelum mencapai lokasi",
        "en": "The drone returned before reaching the scene",
    },
    "vehicle_rtl": {"id": "Drone kembali ke pangkalan (RTL)", "en": "The drone is returning to launch (RTL)"},
    "landed_away_from_home": {
        "id": "Drone mendarat di luar pangkalan ({dist_m} m dari pangkalan, di {lat_deg}, {lon_deg}; "
              "baterai {battery_pct}%): perlu dijemput",
        "en": "The drone landed away from its base ({dist_m} m from base, at {lat_deg}, {lon_deg}; "
              "battery {battery_pct}%): it must be recovered",
    },
    "away_from_base": {"id": "berada di luar pangkalan", "en": "away from its base"},
    "restart_before_launch": {
        "id": "Pengendali dimulai ulang sebelum peluncuran; dijadwalkan ulang",
        "en": "The controller restarted before launch; re-queued",
    },
    "restart_before_takeoff": {
        "id": "Pengendali dimulai ulang dan drone tidak lepas landas",
        "en": "The controller restarted and the drone did not take off",
    },
    "redirected": {"id": "Dialihkan ke {lat_deg}, {lon_deg}", "en": "Redirected to {lat_deg}, {lon_deg}"},
    # -- field reasons (pydantic error types) --
    "f.missing": {"id": "wajib diisi", "en": "is required"},
    "f.enum": {"id": "harus salah satu dari: {expected}", "en": "must be one of: {expected}"},
    "f.ge": {"id": "harus >= {limit}", "en": "must be >= {limit}"},
    "f.le": {"id": "harus <= {limit}", "en": "must be <= {limit}"},
    "f.gt": {"id": "harus > {limit}", "en": "must be > {limit}"},
    "f.lt": {"id": "harus < {limit}", "en": "must be < {limit}"},
    "f.number": {"id": "harus berupa angka", "en": "must be a number"},
    "f.integer": {"id": "harus berupa bilangan bulat", "en": "must be an integer"},
    "f.finite": {"id": "harus berupa angka terhingga", "en": "must be a finite number"},
    "f.string": {"id": "harus berupa teks", "en": "must be text"},
    "f.too_long": {"id": "paling banyak {limit} karakter", "en": "at most {limit} characters"},
    "f.too_short": {"id": "paling sedikit {limit} karakter", "en": "at least {limit} characters"},
    "f.pattern": {"id": "format tidak valid", "en": "invalid format"},
    "f.object": {"id": "harus berupa objek", "en": "must be an object"},
    "f.extra": {"id": "kolom tidak dikenal", "en": "unknown field"},
    "f.json": {"id": "JSON tidak valid", "en": "invalid JSON"},
    "f.other": {"id": "tidak valid ({msg})", "en": "invalid ({msg})"},
    "w.or": {"id": " atau ", "en": " or "},
}

_TYPES: dict[str, tuple[str, str | None]] = {
    "missing": ("f.missing", None),
    "enum": ("f.enum", "expected"),
    "literal_error": ("f.enum", "expected"),
    "greater_than_equal": ("f.ge", "ge"),
    "less_than_equal": ("f.le", "le"),
    "greater_than": ("f.gt", "gt"),
    "less_than": ("f.lt", "lt"),
    "float_parsing": ("f.number", None),
    "float_type": ("f.number", None),
    "int_parsing": ("f.integer", None),
    "int_type": ("f.integer", None),
    "int_from_float": ("f.integer", None),
    "finite_number": ("f.finite", None),
    "string_type": ("f.string", None),
    "string_too_long": ("f.too_long", "max_length"),
    "string_too_short": ("f.too_short", "min_length"),
    "string_pattern_mismatch": ("f.pattern", None),
    "model_attributes_type": ("f.object", None),
    "model_type": ("f.object", None),
    "dict_type": ("f.object", None),
    "extra_forbidden": ("f.extra", None),
    "json_invalid": ("f.json", None),
}


def pick_language(accept_language: str | None, default: str = "id") -> str:
    """``en`` when English is preferred over Indonesian in ``Accept-Language``, else ``default``."""
    if not accept_language:
        return default
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("en"):
            return "en"
        if tag.startswith("id") or tag.startswith("in"):
            return "id"
    return default


def pick_language_ws(query_lang: str | None, accept_language: str | None, default: str = "id") -> str:
    """The language of a WebSocket client: ``?lang=en|id`` (browsers cannot set headers on a
    WebSocket), else ``Accept-Language``, else ``default``."""
    if query_lang:
        q = query_lang.strip().lower()
        if q.startswith("en"):
            return "en"
        if q.startswith("id") or q.startswith("in"):
            return "id"
    return pick_language(accept_language, default)


def localize_reason(frame: dict[str, Any], lang: str) -> dict[str, Any]:
    """A JSON frame whose ``reason`` (a stored ``{"code":..., "params":...}`` text) is replaced by
    the human text in ``lang``, with the code next to it in ``reason_code`` (as the HTTP API does)."""
    if "reason" not in frame:
        return frame
    msg, code = render_reason(frame["reason"], lang)
    return {**frame, "reason": msg, "reason_code": code}


class _Safe(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def t(code: str, lang: str = "id", **params: Any) -> str:
    """The message for ``code`` in ``lang`` (falls back to the code itself if unknown)."""
    entry = MESSAGES.get(code)
    if entry is None:
        return code
    text = entry.get(lang) or entry["id"]
    return text.format_map(_Safe({k: _param(v, lang) for k, v in params.items()}))


def _param(v: Any, lang: str) -> Any:
    """Nested reasons (e.g. per-drone reasons) rendered in the same language."""
    if isinstance(v, dict) and "code" in v:
        rest = {k: x for k, x in v.items() if k != "code"}
        return t(v["code"], lang, **rest)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_param(x, lang)}" for k, x in v.items())
    return v


def render_reason(stored: str | None, lang: str) -> tuple[str | None, str | None]:
    """(message, code) of a stored reason (``{"code":..., "params":...}``) in ``lang``."""
    if not stored:
        return None, None
    try:
        d = json.loads(stored)
    except json.JSONDecodeError:
        return stored, None
    return t(d["code"], lang, **d.get("params", {})), d["code"]


def field_reason(err: dict[str, Any], lang: str) -> str:
    """A pydantic error (from ``errors()``) as a short reason in ``lang``."""
    code, ctx_key = _TYPES.get(str(err.get("type")), ("f.other", None))
    ctx = err.get("ctx") or {}
    params: dict[str, Any] = {"msg": err.get("msg", "")}
    if ctx_key is not None:
        params["expected" if code == "f.enum" else "limit"] = ctx.get(ctx_key, "")
    if code == "f.enum":
        # pydantic lists the choices in English ("'a', 'b' or 'c'"): the last joiner is translated.
        expected = str(params["expected"]).replace("'", "")
        head, sep, tail = expected.rpartition(" or ")
        params["expected"] = f"{head}{t('w.or', lang)}{tail}" if sep else expected
    return t(code, lang, **params)
