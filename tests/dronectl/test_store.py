"""The store: WAL, versioned migrations, durable writes, masking."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dronectl.store import MIGRATIONS, SCHEMA_VERSION, Store, StoreError, mask_nik, mask_phone


def test_fresh_database_is_wal_and_at_latest_version(tmp_path: Path) -> None:
    s = Store(tmp_path / "x" / "d.db")
    assert s.journal_mode() == "wal"
    assert s.schema_version() == SCHEMA_VERSION == len(MIGRATIONS) >= 2
    names = {r[0] for r in sqlite3.connect(tmp_path / "x" / "d.db").execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table','index')")}
    assert {"reports", "incidents", "missions", "mission_transitions", "telemetry", "tokens", "audit",
            "schema_version", "telemetry_mission", "incidents_status"} <= names
    s.close()


def test_migrates_an_older_database_in_order(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE schema_version(version INTEGER NOT NULL)")
    for stmt in MIGRATIONS[0]:
        con.execute(stmt)
    con.execute("INSERT INTO schema_version VALUES (1)")
    con.execute("INSERT INTO incidents(category, priority, lat_deg, lon_deg, status, auto_dispatch, created_us,"
                " updated_us) VALUES ('fire', 1, -6.8, 110.8, 'pending', 0, 1, 1)")
    con.commit()
    con.close()
    s = Store(db)
    assert s.schema_version() == SCHEMA_VERSION
    assert s.incident(1)["category"] == "fire"  # data survives the migration
    idx = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "telemetry_mission" in idx
    s.close()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    s = Store(tmp_path / "d.db")
    with s.tx() as db:
        db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    s.close()
    with pytest.raises(StoreError, match="newer than this controller"):
        Store(tmp_path / "d.db")


def test_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    s = Store(tmp_path / "d.db")
    with pytest.raises(RuntimeError):
        with s.tx() as db:
            s.insert_incident(db, category="fire", priority=1, lat_deg=0, lon_deg=0, status="pending",
                              auto_dispatch=0)
            raise RuntimeError("boom")
    assert s.count("incidents") == 0
    with s.tx() as db:
        s.insert_incident(db, category="fire", priority=1, lat_deg=0, lon_deg=0, status="pending", auto_dispatch=0)
    # Visible to another connection at once: committed.
    assert sqlite3.connect(tmp_path / "d.db").execute("SELECT COUNT(*) FROM incidents").fetchone()[0] == 1
    s.close()


def test_masks() -> None:
    assert mask_phone("0812-3456-7890") == "0812******90"
    assert mask_phone("+6281234567890") == "+628********90"
    assert mask_phone(None) is None and mask_phone("123") == "***"
    assert mask_nik("3319011234567890") == "331901********90"


def test_durable_transactions_commit_with_full_sync_others_with_normal(tmp_path: Path) -> None:
    s = Store(tmp_path / "d.db")
    assert s.synchronous() == 1  # NORMAL: crash-safe in WAL, no fsync per commit
    with s.tx(durable=True) as db:
        s.insert_incident(db, category="fire", priority=1, lat_deg=0, lon_deg=0, status="pending", auto_dispatch=0)
        assert int(db.execute("PRAGMA synchronous").fetchone()[0]) == 2  # FULL for this commit
    assert s.synchronous() == 1
    with pytest.raises(RuntimeError):
        with s.tx(durable=True):
            raise RuntimeError("boom")
    assert s.synchronous() == 1  # restored after a rollback too
    s.close()



async def test_a_report_is_committed_durably(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's transaction is the FULL-sync one (the 201 promises it is on disk); the
    mission and its transitions that follow are not fsync'd on the way to the take-off."""
    from contextlib import contextmanager

    from dronectl.config import Category
    from dronectl.dispatch import ReportIn
    from dronectl.service import Service
    from tests.dronectl.conftest import make_settings, memory_gateway

    settings = make_settings(tmp_path)
    svc = Service(settings, gateway=memory_gateway(settings), queue_poll_s=0.05)
    await svc.start()
    seen: list[tuple[bool, int, int]] = []  # (durable, reports, missions) after each commit
    original = Store.tx

    @contextmanager
    def spy(self: Store, *, durable: bool = False):  # type: ignore[no-untyped-def]
        with original(self, durable=durable) as db:
            yield db
        seen.append((durable, self.count("reports"), self.count("missions")))

    monkeypatch.setattr(Store, "tx", spy)
    try:
        b = settings.bases[0]
        out = await svc.dispatcher.submit_report(ReportIn(
            category=Category.CRIME, priority=1, lat_deg=b.lat_deg + 0.01, lon_deg=b.lon_deg, channel="phone"))
        assert out.mission_id is not None
    finally:
        monkeypatch.undo()
        await svc.stop()
    first_with_report = next(s for s in seen if s[1] == 1)
    assert first_with_report[0] is True
    assert [s for s in seen if s[2] == 1 and s[0]] == []  # the mission's commits are not fsync'd
