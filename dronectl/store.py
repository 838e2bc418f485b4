"""Persistence: one SQLite file in WAL mode behind this one module (the :mod:`sqlite3` module).

The schema is versioned: ``schema_version`` holds the number of applied steps of :data:`MIGRATIONS`
(ordered; each step runs in its own transaction). Opening a database written by a newer controller
is refused rather than guessed at.

Every write commits before it returns. Two levels of durability (WAL mode):

* ``tx(durable=True)`` (accepted 110 reports, tokens, migrations) commits with
  ``synchronous=FULL``: the WAL is fsync'd before the commit returns, so an API answer that follows
  means the row is on disk, even if the machine loses power right after;
* every other write (mission transitions, incident updates, audit rows, the telemetry track)
  commits with ``synchronous=NORMAL``: the transaction is in the WAL file when the commit returns
  (it survives a crash or kill of the controller process, which is what the restart tests
  exercise), and reaches the disk at the next durable commit or checkpoint, at most a few
  seconds later. Only an OS crash or power loss in that window can roll such rows back, and a
  durable commit never loses what was committed before it. Each fsync costs milliseconds
  (~1-4 ms on the project's machine); three of them used to sit between a report and its take-off.

Rows come back as plain ``dict``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dronectl.events import now_us

__all__ = ["Store", "StoreError", "MIGRATIONS", "SCHEMA_VERSION", "mask_phone", "mask_nik"]


MIGRATIONS: list[list[str]] = [
    # 1: the initial schema
    [
        """CREATE TABLE incidents(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            category TEXT NOT NULL,
            priority INTEGER NOT NULL,
            lat_deg REAL NOT NULL,
            lon_deg REAL NOT NULL,
            address TEXT,
            description TEXT,
            status TEXT NOT NULL,
            reason TEXT,
            auto_dispatch INTEGER NOT NULL,
            assigned_officer TEXT,
            mission_id INTEGER,
            report_count INTEGER NOT NULL DEFAULT 1,
            created_us INTEGER NOT NULL,
            updated_us INTEGER NOT NULL)""",
        """CREATE TABLE reports(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            external_id TEXT UNIQUE,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            category TEXT NOT NULL,
            priority INTEGER NOT NULL,
            lat_deg REAL NOT NULL,
            lon_deg REAL NOT NULL,
            address TEXT,
            description TEXT,
            caller_phone_masked TEXT,
            caller_nik_masked TEXT,
            channel TEXT NOT NULL,
            payload_sha256 TEXT NOT NULL,
            merged INTEGER NOT NULL,
            received_us INTEGER NOT NULL)""",
        """CREATE TABLE missions(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            drone_id TEXT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            target_lat_deg REAL NOT NULL,
            target_lon_deg REAL NOT NULL,
            plan_json TEXT NOT NULL,
            held INTEGER NOT NULL DEFAULT 0,
            created_us INTEGER NOT NULL,
            updated_us INTEGER NOT NULL)""",
        """CREATE TABLE mission_transitions(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            mission_id INTEGER NOT NULL REFERENCES missions(id),
            from_state TEXT,
            to_state TEXT NOT NULL,
            reason TEXT,
            at_us INTEGER NOT NULL)""",
        """CREATE TABLE telemetry(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            drone_id TEXT NOT NULL,
            mission_id INTEGER,
            time_us INTEGER NOT NULL,
            lat_deg REAL,
            lon_deg REAL,
            alt_rel_m REAL,
            alt_amsl_m REAL,
            battery_pct REAL,
            flight_mode TEXT,
            link TEXT NOT NULL,
            in_air INTEGER NOT NULL)""",
        """CREATE TABLE tokens(
            digest TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            name TEXT NOT NULL,
            subject TEXT,
            created_us INTEGER NOT NULL)""",
        """CREATE TABLE audit(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at_us INTEGER NOT NULL,
            actor TEXT,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL)""",
    ],
    # 2: indexes for the queries the service runs on every report and every track request
    [
        "CREATE INDEX incidents_status ON incidents(status, created_us)",
        "CREATE INDEX reports_incident ON reports(incident_id)",
        "CREATE INDEX telemetry_mission ON telemetry(mission_id, time_us)",
        "CREATE INDEX transitions_mission ON mission_transitions(mission_id, id)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The database cannot be used (e.g. written by a newer version)."""


def mask_phone(phone: str | None) -> str | None:
    """Keep the first 4 and last 2 digits: ``081234567890`` -> ``0812******90``."""
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    if len(digits) <= 6:
        return "*" * len(digits)
    return digits[:4] + "*" * (len(digits) - 6) + digits[-2:]


def mask_nik(nik: str | None) -> str | None:
    """Keep the first 6 digits (region code) and the last 2 of the 16-digit NIK."""
    if not nik:
        return None
    return nik[:6] + "*" * (len(nik) - 8) + nik[-2:]


class Store:
    """The controller's database. Safe to call from the event loop (calls are short)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL by default; durable transactions switch to FULL for their commit (see the module doc).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=10000")
        self.migrate()

    # -- plumbing ------------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def tx(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: committed on success, rolled back on any exception.

        Parameters
        ----------
        durable : bool
            Commit with ``synchronous=FULL`` (on disk when this returns, power loss included);
            otherwise ``NORMAL`` (in the WAL: survives a process crash). See the module doc.
        """
        with self._lock:
            if durable:
                # The setting is read at COMMIT; it cannot change inside a transaction.
                self._db.execute("PRAGMA synchronous=FULL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if durable:
                    self._db.execute("PRAGMA synchronous=NORMAL")

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, args).fetchall()]

    def _one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        with self._lock:
            r = self._db.execute(sql, args).fetchone()
        return None if r is None else dict(r)

    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    def synchronous(self) -> int:
        """The connection's current ``PRAGMA synchronous`` (1 NORMAL, 2 FULL)."""
        with self._lock:
            return int(self._db.execute("PRAGMA synchronous").fetchone()[0])

    def schema_version(self) -> int:
        with self._lock:
            has = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
            ).fetchone()
            if not has:
                return 0
            row = self._db.execute("SELECT version FROM schema_version").fetchone()
            return 0 if row is None else int(row[0])

    def migrate(self, target: int = SCHEMA_VERSION) -> int:
        """Apply pending migration steps up to ``target``; returns the version reached."""
        with self._lock:
            current = self.schema_version()
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: schema version {current} is newer than this controller's {SCHEMA_VERSION}"
                )
            for version in range(current + 1, target + 1):
                with self.tx(durable=True) as db:
                    db.execute("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)")
                    for stmt in MIGRATIONS[version - 1]:
                        db.execute(stmt)
                    db.execute("DELETE FROM schema_version")
                    db.execute("INSERT INTO schema_version(version) VALUES (?)", (version,))
            return self.schema_version()

    # -- reports and incidents -----------------------------------------------------------------
    def report_by_external_id(self, external_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM reports WHERE external_id = ?", (external_id,))

    def open_incidents_since(self, since_us: int) -> list[dict[str, Any]]:
        return self._all(
            "SELECT * FROM incidents WHERE status NOT IN ('closed','cancelled') AND created_us >= ? ORDER BY id",
            (since_us,),
        )

    def insert_incident(self, db: sqlite3.Connection, **row: Any) -> int:
        t = now_us()
        row.setdefault("created_us", t)
        row.setdefault("updated_us", t)
        cols = ",".join(row)
        cur = db.execute(f"INSERT INTO incidents({cols}) VALUES ({','.join('?' * len(row))})", tuple(row.values()))
        return int(cur.lastrowid or 0)

    def insert_report(self, db: sqlite3.Connection, **row: Any) -> int:
        row.setdefault("received_us", now_us())
        cols = ",".join(row)
        cur = db.execute(f"INSERT INTO reports({cols}) VALUES ({','.join('?' * len(row))})", tuple(row.values()))
        return int(cur.lastrowid or 0)

    def incident(self, incident_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM incidents WHERE id = ?", (incident_id,))

    def incidents(self, *, officer: str | None = None, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM incidents WHERE 1=1", []
        if officer is not None:
            sql += " AND assigned_officer = ?"
            args.append(officer)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        return self._all(sql, args)

    def incidents_with_status(self, *statuses: str) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(statuses))
        return self._all(f"SELECT * FROM incidents WHERE status IN ({marks}) ORDER BY priority, id", statuses)

    def update_incident(self, incident_id: int, db: sqlite3.Connection | None = None, **fields: Any) -> None:
        fields["updated_us"] = now_us()
        sets = ",".join(f"{k} = ?" for k in fields)
        args = (*fields.values(), incident_id)
        if db is not None:
            db.execute(f"UPDATE incidents SET {sets} WHERE id = ?", args)
        else:
            with self.tx() as d:
                d.execute(f"UPDATE incidents SET {sets} WHERE id = ?", args)

    def reports_of(self, incident_id: int) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM reports WHERE incident_id = ? ORDER BY id", (incident_id,))

    def count(self, table: str) -> int:
        assert table in {"reports", "incidents", "missions", "mission_transitions", "telemetry", "tokens", "audit"}
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    # -- missions ------------------------------------------------------------------------------
    def insert_mission(self, db: sqlite3.Connection, *, incident_id: int, drone_id: str, state: str,
                       target_lat_deg: float, target_lon_deg: float, plan: dict[str, Any]) -> int:
        t = now_us()
        cur = db.execute(
            "INSERT INTO missions(incident_id, drone_id, state, target_lat_deg, target_lon_deg, plan_json,"
            " created_us, updated_us) VALUES (?,?,?,?,?,?,?,?)",
            (incident_id, drone_id, state, target_lat_deg, target_lon_deg, json.dumps(plan), t, t),
        )
        mid = int(cur.lastrowid or 0)
        db.execute(
            "INSERT INTO mission_transitions(mission_id, from_state, to_state, reason, at_us) VALUES (?,?,?,?,?)",
            (mid, None, state, None, t),
        )
        return mid

    def mission(self, mission_id: int) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM missions WHERE id = ?", (mission_id,))
        if row is not None:
            row["plan"] = json.loads(row.pop("plan_json"))
        return row

    def missions_in_states(self, states: Sequence[str]) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(states))
        rows = self._all(f"SELECT * FROM missions WHERE state IN ({marks}) ORDER BY id", tuple(states))
        for r in rows:
            r["plan"] = json.loads(r.pop("plan_json"))
        return rows

    def record_transition(self, mission_id: int, from_state: str, to_state: str, reason: str | None,
                          db: sqlite3.Connection | None = None) -> None:
        """Persist a state change and its history row in one transaction."""
        t = now_us()

        def _do(d: sqlite3.Connection) -> None:
            d.execute("UPDATE missions SET state = ?, reason = COALESCE(?, reason), updated_us = ? WHERE id = ?",
                      (to_state, reason, t, mission_id))
            d.execute(
                "INSERT INTO mission_transitions(mission_id, from_state, to_state, reason, at_us) VALUES (?,?,?,?,?)",
                (mission_id, from_state, to_state, reason, t),
            )

        if db is not None:
            _do(db)
        else:
            with self.tx() as d:
                _do(d)

    def update_mission(self, mission_id: int, **fields: Any) -> None:
        if "plan" in fields:
            fields["plan_json"] = json.dumps(fields.pop("plan"))
        fields["updated_us"] = now_us()
        sets = ",".join(f"{k} = ?" for k in fields)
        with self.tx() as d:
            d.execute(f"UPDATE missions SET {sets} WHERE id = ?", (*fields.values(), mission_id))

    def transitions(self, mission_id: int) -> list[dict[str, Any]]:
        return self._all("SELECT from_state, to_state, reason, at_us FROM mission_transitions WHERE mission_id = ? ORDER BY id",
                         (mission_id,))

    # -- telemetry -----------------------------------------------------------------------------
    def insert_telemetry(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        with self.tx() as d:
            d.executemany(
                "INSERT INTO telemetry(drone_id, mission_id, time_us, lat_deg, lon_deg, alt_rel_m, alt_amsl_m,"
                " battery_pct, flight_mode, link, in_air) VALUES (:drone_id, :mission_id, :time_us, :lat_deg,"
                " :lon_deg, :alt_rel_m, :alt_amsl_m, :battery_pct, :flight_mode, :link, :in_air)",
                rows,
            )

    def track(self, mission_id: int) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM telemetry WHERE mission_id = ? ORDER BY time_us", (mission_id,))

    # -- tokens and audit ----------------------------------------------------------------------
    def add_token(self, digest: str, role: str, name: str, subject: str | None = None) -> None:
        with self.tx(durable=True) as d:
            d.execute("INSERT OR REPLACE INTO tokens(digest, role, name, subject, created_us) VALUES (?,?,?,?,?)",
                      (digest, role, name, subject, now_us()))

    def token(self, digest: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM tokens WHERE digest = ?", (digest,))

    def audit(self, kind: str, payload: dict[str, Any], actor: str | None = None,
              db: sqlite3.Connection | None = None) -> None:
        args = (now_us(), actor, kind, json.dumps(payload, default=str))
        sql = "INSERT INTO audit(at_us, actor, kind, payload) VALUES (?,?,?,?)"
        if db is not None:
            db.execute(sql, args)
        else:
            with self.tx() as d:
                d.execute(sql, args)
