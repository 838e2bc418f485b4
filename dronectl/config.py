"""Settings for one operating area, read from a TOML file and validated with pydantic.

A bad file is refused at start with the file's path and the offending field named
(:class:`ConfigError`); the CLI prints that message without a traceback.

Tests build settings in code: either :func:`load_settings` on ``examples/muria/config.toml``
followed by :meth:`Settings.with_overrides` (data directory, MAVLink base port), or
``Settings.model_validate({...})`` on a plain dict shaped like the TOML file.

Examples
--------
>>> s = load_settings("examples/muria/config.toml")                      # doctest: +SKIP
>>> s = s.with_overrides(data_dir=tmp_path, base_port=24540)              # doctest: +SKIP
>>> [d.url for d in s.drones]                                             # doctest: +SKIP
['udpin://0.0.0.0:24540', 'udpin://0.0.0.0:24541', 'udpin://0.0.0.0:24542']
"""

from __future__ import annotations

import enum
import hashlib
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dronectl.gateway import DroneLink, SafetyParams

__all__ = [
    "Category",
    "Role",
    "Base",
    "DroneConfig",
    "DroneEnergy",
    "OnScene",
    "AutoRule",
    "DispatchPolicy",
    "FlightConfig",
    "TokenConfig",
    "Settings",
    "ConfigError",
    "load_settings",
    "hash_token",
]


class Category(enum.StrEnum):
    """110 report categories."""

    CRIME = "crime"
    ACCIDENT = "accident"
    FIRE = "fire"
    DISASTER = "disaster"
    MEDICAL = "medical"
    PUBLIC_ORDER = "public_order"
    OTHER = "other"


class Role(enum.StrEnum):
    DISPATCHER = "dispatcher"
    OFFICER = "officer"
    INTEGRATION = "integration"
    ADMIN = "admin"


def hash_token(token: str) -> str:
    """SHA-256 hex digest under which a bearer token is stored (never the token itself)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


Lat = Annotated[float, Field(ge=-90.0, le=90.0)]
Lon = Annotated[float, Field(ge=-180.0, le=180.0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Base(_Model):
    """A drone base (police station). Positions are approximate for the example area."""

    id: str = Field(min_length=1)
    name: str
    lat_deg: Lat
    lon_deg: Lon
    alt_amsl_m: float = 0.0
    service_radius_m: float = Field(default=15_000.0, gt=0)


#: Battery drawn per phase relative to hover, used for a rate a drone's ``energy`` table leaves
#: unset. Deliberately pessimistic: a quadrotor at a first-responder cruise speed (12 m/s) can
#: draw well above its hover power (sim's PX4-like quad: 1.58x), a take-off climb more.
DEFAULT_CRUISE_OVER_HOVER = 1.8
DEFAULT_CLIMB_OVER_HOVER = 2.5
DEFAULT_DESCENT_OVER_HOVER = 1.2


class DroneEnergy(_Model):
    """How a drone drains its battery: the fields of ``missions.energy.EnergyProfile``.

    Rates are in % of a full pack per minute of each flight phase; fit them to the airframe (flight
    logs, or the simulator's battery model for simulated drones). A rate left unset is derived
    from the drone's ``endurance_min`` (hover: ``100 / endurance_min``; cruise, climb and descent:
    hover times the pessimistic ``DEFAULT_*_OVER_HOVER`` factors), so an unfitted drone is planned
    with margin rather than flown into its reserve.
    """

    hover_pct_per_min: float | None = Field(default=None, gt=0, le=100)
    cruise_pct_per_min: float | None = Field(default=None, gt=0, le=100)  # at the drone's cruise speed
    climb_pct_per_min: float | None = Field(default=None, gt=0, le=100)  # at the drone's climb_rate_m_s
    descent_pct_per_min: float | None = Field(default=None, gt=0, le=100)
    descent_rate_m_s: float = Field(default=1.5, gt=0, le=15)  # PX4 MPC_Z_V_AUTO_DN
    land_speed_m_s: float = Field(default=0.7, gt=0, le=5)  # PX4 MPC_LAND_SPEED
    land_slow_alt_m: float = Field(default=5.0, ge=0, le=100)  # PX4 MPC_LAND_ALT2

    def rates(self, endurance_min: float) -> tuple[float, float, float, float]:
        """(hover, cruise, climb, descent) in %/min, the unset ones derived from ``endurance_min``."""
        hover = self.hover_pct_per_min if self.hover_pct_per_min is not None else 100.0 / endurance_min
        return (
            hover,
            self.cruise_pct_per_min if self.cruise_pct_per_min is not None else DEFAULT_CRUISE_OVER_HOVER * hover,
            self.climb_pct_per_min if self.climb_pct_per_min is not None else DEFAULT_CLIMB_OVER_HOVER * hover,
            self.descent_pct_per_min if self.descent_pct_per_min is not None
            else DEFAULT_DESCENT_OVER_HOVER * hover,
        )


class DroneConfig(_Model):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str
    base: str
    url: str = Field(pattern=r"^(udpin|udpout|udp|tcpin|tcpout|tcp|serial)://")
    system_id: int = Field(ge=1, le=254)
    cruise_speed_m_s: float = Field(default=12.0, gt=0, le=40)
    climb_rate_m_s: float = Field(default=3.0, gt=0, le=15)
    endurance_min: float = Field(default=25.0, gt=0, le=600)  # hover on a full pack
    energy: DroneEnergy = Field(default_factory=DroneEnergy)


class OnScene(_Model):
    """What a drone does over an incident of one category."""

    hover_s: float = Field(default=120.0, ge=0, le=3600)
    alt_m: float = Field(default=40.0, gt=5)
    pattern: Literal["hold", "orbit"] = "hold"
    orbit_radius_m: float = Field(default=40.0, gt=5, le=500)


class AutoRule(_Model):
    """Reports matching a rule launch without an operator's click."""

    categories: list[Category | Literal["*"]] = Field(default_factory=lambda: ["*"])
    max_priority: int = Field(default=2, ge=1, le=5)

    def matches(self, category: Category, priority: int) -> bool:
        cats = set(self.categories)
        return ("*" in cats or category in cats) and priority <= self.max_priority


class DispatchPolicy(_Model):
    auto: list[AutoRule] = Field(default_factory=lambda: [AutoRule()])
    merge_radius_m: float = Field(default=300.0, ge=0)
    merge_window_s: float = Field(default=900.0, ge=0)

    def is_auto(self, category: Category, priority: int) -> bool:
        return any(rule.matches(category, priority) for rule in self.auto)


class FlightConfig(_Model):
    cruise_alt_m: float = Field(default=60.0, gt=5)
    margin_m: float = Field(default=50.0, ge=0)
    reserve_pct: float = Field(default=20.0, ge=0, lt=100)
    min_launch_battery_pct: float = Field(default=60.0, ge=0, le=100)
    low_battery_pct: float = Field(default=25.0, ge=0, le=100)
    rtl_return_alt_m: float = Field(default=60.0, gt=5)
    link_loss_timeout_s: float = Field(default=10.0, gt=0)


class TokenConfig(_Model):
    """A bootstrap API token: give ``sha256`` (preferred) or ``token`` (hashed at load)."""

    name: str = "bootstrap"
    role: Role
    subject: str | None = None  # for officers: the officer id incidents are assigned to
    token: str | None = Field(default=None, min_length=16)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _one_secret(self) -> TokenConfig:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError("give exactly one of 'token' or 'sha256'")
        return self

    @property
    def digest(self) -> str:
        return self.sha256 if self.sha256 is not None else hash_token(self.token or "")


class AuthConfig(_Model):
    tokens: list[TokenConfig] = Field(default_factory=list)


class TelemetryConfig(_Model):
    rate_hz: float = Field(default=5.0, gt=0, le=20)
    record_hz: float = Field(default=1.0, gt=0, le=20)
    ws_queue: int = Field(default=512, ge=1, le=100_000)  # frames a WebSocket client may lag behind


class ApiConfig(_Model):
    max_body_bytes: int = Field(default=16_384, ge=1024)
    default_language: Literal["id", "en"] = "id"


def _default_on_scene() -> dict[Category, OnScene]:
    return {c: OnScene() for c in Category}


class Settings(_Model):
    """Everything one controller needs. Relative paths are relative to ``base_dir``."""

    area_name: str = "unnamed area"
    base_dir: Path = Field(default_factory=Path.cwd)
    data_dir: Path = Path("data")
    database_url: str | None = None
    airspace_path: Path | None = None
    max_alt_m: float = Field(default=120.0, gt=0, le=500)
    bases: list[Base] = Field(min_length=1)
    drones: list[DroneConfig] = Field(min_length=1)
    on_scene: dict[Category, OnScene] = Field(default_factory=_default_on_scene)
    dispatch: DispatchPolicy = Field(default_factory=DispatchPolicy)
    flight: FlightConfig = Field(default_factory=FlightConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)

    @field_validator("on_scene", mode="before")
    @classmethod
    def _fill_on_scene(cls, v: Any) -> Any:
        # Categories not listed get the defaults, so a file only names what differs.
        if isinstance(v, dict):
            return {**{c.value: {} for c in Category}, **v}
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        base_ids = [b.id for b in self.bases]
        if len(set(base_ids)) != len(base_ids):
            raise ValueError("bases: duplicate base id")
        ids = [d.id for d in self.drones]
        if len(set(ids)) != len(ids):
            raise ValueError("drones: duplicate drone id")
        sysids = [d.system_id for d in self.drones]
        if len(set(sysids)) != len(sysids):
            raise ValueError("drones: duplicate system_id (every vehicle needs its own)")
        for i, d in enumerate(self.drones):
            if d.base not in base_ids:
                raise ValueError(f"drones[{i}].base: unknown base {d.base!r} (known: {base_ids})")
        for cat, o in self.on_scene.items():
            if o.alt_m > self.max_alt_m:
                raise ValueError(f"on_scene.{cat.value}.alt_m: {o.alt_m} exceeds max_alt_m {self.max_alt_m}")
        if self.flight.cruise_alt_m > self.max_alt_m:
            raise ValueError(f"flight.cruise_alt_m: {self.flight.cruise_alt_m} exceeds max_alt_m {self.max_alt_m}")
        if self.flight.rtl_return_alt_m > self.max_alt_m:
            raise ValueError(
                f"flight.rtl_return_alt_m: {self.flight.rtl_return_alt_m} exceeds max_alt_m {self.max_alt_m}"
            )
        return self

    # -- derived values -------------------------------------------------------------------------
    def resolve(self, p: Path) -> Path:
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def data_path(self) -> Path:
        return self.resolve(self.data_dir)

    @property
    def db_path(self) -> Path:
        """The SQLite file (``database_url`` of the form ``sqlite:///PATH``, or the data dir default)."""
        if self.database_url:
            if not self.database_url.startswith("sqlite:///"):
                raise ValueError("database_url: only sqlite:///PATH is supported")
            return self.resolve(Path(self.database_url.removeprefix("sqlite:///")))
        return self.data_path / "dronectl.db"

    @property
    def airspace_file(self) -> Path | None:
        return None if self.airspace_path is None else self.resolve(self.airspace_path)

    def base(self, base_id: str) -> Base:
        return next(b for b in self.bases if b.id == base_id)

    def drone(self, drone_id: str) -> DroneConfig:
        return next(d for d in self.drones if d.id == drone_id)

    def links(self) -> list[DroneLink]:
        """The gateway's view of the fleet."""
        return [DroneLink(drone_id=d.id, url=d.url, system_id=d.system_id) for d in self.drones]

    def safety_params(self) -> SafetyParams:
        return SafetyParams(
            com_dl_loss_t_s=self.flight.link_loss_timeout_s,
            rtl_return_alt_m=self.flight.rtl_return_alt_m,
        )

    def with_overrides(
        self,
        *,
        data_dir: Path | str | None = None,
        base_port: int | None = None,
        urls: Sequence[str] | None = None,
        system_ids: Sequence[int] | None = None,
        **fields: Any,
    ) -> Settings:
        """A validated copy with test/demo overrides.

        Parameters
        ----------
        data_dir
            Where the database lives (absolute, or relative to ``base_dir``).
        base_port
            Drone i listens on ``udpin://0.0.0.0:(base_port + i)`` (PX4 SITL's convention).
        urls, system_ids
            Explicit per-drone MAVLink URLs / system ids, in the order of ``drones``.
        **fields
            Any other top-level field, e.g. ``telemetry={"rate_hz": 10}``.
        """
        data = self.model_dump(mode="python")
        drones = data["drones"]
        if base_port is not None:
            for i, d in enumerate(drones):
                d["url"] = f"udpin://0.0.0.0:{base_port + i}"
        if urls is not None:
            for d, u in zip(drones, urls, strict=True):
                d["url"] = u
        if system_ids is not None:
            for d, s in zip(drones, system_ids, strict=True):
                d["system_id"] = s
        if data_dir is not None:
            data["data_dir"] = Path(data_dir)
            data["database_url"] = None
        data.update(fields)
        return Settings.model_validate(data)


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names the path and the field."""


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _check_airspace(path: Path, settings: Settings) -> None:
    """Refuse a configuration whose airspace GeoJSON cannot be used, as a bad field would be."""
    from missions.airspace import Airspace  # heavy (shapely, pyproj): only when there is a file
    from missions.errors import AirspaceError

    try:
        Airspace.from_geojson(settings.airspace_file, max_alt_m=settings.max_alt_m)
    except AirspaceError as e:
        # The library's message names every bad feature by index and name.
        detail = str(e).removeprefix("airspace: ").replace("\n", "\n  ")
        raise ConfigError(f"{path}: airspace_path: {settings.airspace_file}: {detail}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: airspace_path: cannot read {settings.airspace_file}: {e}") from None


def load_settings(path: str | Path, **overrides: Any) -> Settings:
    """Read and validate a TOML configuration file.

    Parameters
    ----------
    path
        The TOML file. Relative paths inside it are relative to its directory.
    **overrides
        Passed to :meth:`Settings.with_overrides` after validation.

    Raises
    ------
    ConfigError
        The file is missing, not TOML, or a field is invalid, or the airspace GeoJSON it names
        cannot be used; the message names the path and the field (or the airspace feature).
    """
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    raw.setdefault("base_dir", str(p.resolve().parent))
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as e:
        lines = [f"{p}: invalid configuration"]
        for err in e.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"  {_field_path(tuple(err['loc']))}: {msg}")
        raise ConfigError("\n".join(lines)) from None
    if settings.airspace_file is not None and not settings.airspace_file.is_file():
        raise ConfigError(f"{p}: airspace_path: file not found: {settings.airspace_file}")
    if settings.airspace_file is not None:
        _check_airspace(p, settings)
    if overrides:
        try:
            settings = settings.with_overrides(**overrides)
        except ValidationError as e:
            raise ConfigError(f"{p}: invalid override: {e}") from None
    return settings
