"""Request bodies of the HTTP API (validated by pydantic; errors name the field)."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field

from dronectl.config import Category

__all__ = ["Channel", "Location", "ReportBody", "DispatchBody", "RedirectBody", "AssignBody"]


class Channel(enum.StrEnum):
    PHONE = "phone"
    APP = "app"
    KIOSK = "kiosk"
    SMS = "sms"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


class Location(_Body):
    lat: float = Field(ge=-90.0, le=90.0, description="Latitude, WGS84 degrees")
    lon: float = Field(ge=-180.0, le=180.0, description="Longitude, WGS84 degrees")


class ReportBody(_Body):
    """A 110 report as the call-centre system (or a dispatcher) posts it."""

    category: Category
    priority: int = Field(ge=1, le=5, description="1 = most urgent .. 5")
    location: Location
    address: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=4000)
    caller_phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 ()-]{5,19}$",
                                     description="Stored masked (first 4 and last 2 digits)")
    caller_nik: str | None = Field(default=None, pattern=r"^[0-9]{16}$",
                                   description="16-digit NIK, stored masked")
    channel: Channel
    external_id: str | None = Field(default=None, min_length=1, max_length=100,
                                    description="The caller system's id: posting it again returns the same answer")


class DispatchBody(_Body):
    drone_id: str | None = Field(default=None, max_length=64)


class RedirectBody(_Body):
    location: Location


class AssignBody(_Body):
    officer: str | None = Field(default=None, min_length=1, max_length=100)
