"""Configuration: the example loads; a bad file is refused naming the path and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from dronectl.config import Category, ConfigError, Role, Settings, hash_token, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "muria" / "config.toml"

GOOD = """
area_name = "t"
airspace_path = "air.geojson"
[[bases]]
id = "hq"
name = "HQ"
lat_deg = -6.8
lon_deg = 110.84
[[drones]]
id = "d1"
name = "D1"
base = "hq"
url = "udpin://0.0.0.0:14540"
system_id = 1
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "air.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_example_config_loads_and_describes_kudus_fleet() -> None:
    s = load_settings(EXAMPLE)
    assert [d.id for d in s.drones] == ["kudus-1", "kudus-2", "jati-1"]
    assert [d.system_id for d in s.drones] == [1, 2, 3]
    assert [d.url for d in s.drones] == [f"udpin://0.0.0.0:{p}" for p in (14540, 14541, 14542)]
    assert {b.id for b in s.bases} == {"polres-kudus", "polsek-jati"}
    assert s.airspace_file is not None and s.airspace_file.is_file()
    assert s.db_path == EXAMPLE.parent / "data" / "dronectl.db"
    assert s.on_scene[Category.FIRE].pattern == "orbit" and s.on_scene[Category.OTHER].hover_s == 120.0
    assert s.dispatch.is_auto(Category.CRIME, 1) and not s.dispatch.is_auto(Category.CRIME, 3)
    assert s.dispatch.is_auto(Category.FIRE, 3) and not s.dispatch.is_auto(Category.OTHER, 4)


def test_with_overrides_for_tests(tmp_path: Path) -> None:
    s = load_settings(EXAMPLE).with_overrides(data_dir=tmp_path, base_port=24540, system_ids=[201, 202, 203],
                                              telemetry={"rate_hz": 10})
    assert [d.url for d in s.drones] == [f"udpin://0.0.0.0:{p}" for p in (24540, 24541, 24542)]
    assert [link.system_id for link in s.links()] == [201, 202, 203]
    assert s.db_path == tmp_path / "dronectl.db" and s.telemetry.rate_hz == 10
    assert s.safety_params().com_dl_loss_t_s == 10.0 and s.safety_params().nav_dll_act == 2


@pytest.mark.parametrize("text,field,fragment", [
    (GOOD.replace('base = "hq"', 'base = "nowhere"'), "drones[0].base", "unknown base"),
    (GOOD.replace("system_id = 1", "system_id = 0"), "drones[0].system_id", "greater than or equal to 1"),
    (GOOD.replace("lat_deg = -6.8", "lat_deg = -96.8"), "bases[0].lat_deg", "greater than or equal to -90"),
    (GOOD.replace('url = "udpin://0.0.0.0:14540"', 'url = "14540"'), "drones[0].url", "pattern"),
    (GOOD + "\n[telemetry]\nrate_hz = 50\n", "telemetry.rate_hz", "less than or equal to 20"),
    ("max_alt_m = 50\n" + GOOD, "flight.cruise_alt_m", "exceeds max_alt_m"),
    ("unknown_key = 1\n" + GOOD, "unknown_key", "Extra inputs"),
    (GOOD + '\n[on_scene.crime]\npattern = "spiral"\n', "on_scene.crime.pattern", "'hold' or 'orbit'"),
    (GOOD + '\n[[auth.tokens]]\nrole = "boss"\ntoken = "0123456789abcdef0"\n', "auth.tokens[0].role", "dispatcher"),
    (GOOD + '\n[[auth.tokens]]\nrole = "admin"\n', "auth.tokens[0]", "exactly one of"),
])
def test_bad_file_names_path_and_field(tmp_path: Path, text: str, field: str, fragment: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_settings(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: invalid configuration")
    line = next((ln for ln in msg.splitlines() if field in ln), None)
    assert line is not None and fragment in line, msg


def test_duplicate_system_ids_refused(tmp_path: Path) -> None:
    text = GOOD + '\n[[drones]]\nid = "d2"\nname = "D2"\nbase = "hq"\nurl = "udpin://0.0.0.0:14541"\nsystem_id = 1\n'
    with pytest.raises(ConfigError, match="duplicate system_id"):
        load_settings(write(tmp_path, text))


def test_missing_file_bad_toml_missing_airspace(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: file not found"):
        load_settings(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "area_name = [unclosed"))
    p = write(tmp_path, GOOD)
    (tmp_path / "air.geojson").unlink()
    with pytest.raises(ConfigError, match="airspace_path: file not found"):
        load_settings(p)


def test_tokens_are_hashed(tmp_path: Path) -> None:
    s = Settings.model_validate({
        "bases": [{"id": "hq", "name": "HQ", "lat_deg": 0, "lon_deg": 0}],
        "drones": [{"id": "d", "name": "D", "base": "hq", "url": "udpin://0.0.0.0:1", "system_id": 1}],
        "auth": {"tokens": [{"role": "officer", "subject": "andi", "token": "secret-secret-secret"}]},
    })
    tc = s.auth.tokens[0]
    assert tc.digest == hash_token("secret-secret-secret") and len(tc.digest) == 64 and tc.role is Role.OFFICER
