"""Bearer-token authentication and role checks (tokens are stored as SHA-256 digests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

from dronectl.api.errors import ApiError
from dronectl.config import Role
from dronectl.service import Principal, Service

__all__ = ["require", "token_from", "READ_ALL", "OPERATE", "REPORT"]

READ_ALL = (Role.DISPATCHER, Role.ADMIN)
OPERATE = (Role.DISPATCHER, Role.ADMIN)
REPORT = (Role.INTEGRATION, Role.DISPATCHER, Role.ADMIN)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def token_from(headers: Any, query: Any, *, allow_query: bool) -> str | None:
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return ""
    if allow_query:
        return query.get("token")
    return None


def authenticate(service: Service, token: str | None) -> Principal:
    if token is None:
        raise ApiError(401, "not_authenticated", headers=_CHALLENGE)
    p = service.authenticate(token) if token else None
    if p is None:
        raise ApiError(401, "bad_token", headers=_CHALLENGE)
    return p


def require(*roles: Role) -> Callable[[Request], Principal]:
    """A FastAPI dependency: the caller, who must hold one of ``roles``."""

    def dep(request: Request) -> Principal:
        p = authenticate(request.app.state.service, token_from(request.headers, request.query_params,
                                                               allow_query=False))
        if p.role not in roles:
            raise ApiError(403, "forbidden_role", role=p.role.value, allowed=", ".join(r.value for r in roles))
        return p

    return dep
