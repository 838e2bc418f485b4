"""Prometheus metrics of one app instance (its own registry, so several apps can live in a test)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reports = Counter("dronectl_reports_total", "110 reports accepted", ["merged"], registry=r)
        self.transitions = Counter("dronectl_mission_transitions_total", "Mission state changes", ["to_state"],
                                   registry=r)
        self.dispatch_s = Histogram("dronectl_dispatch_seconds", "Report accepted -> mission planned (controller)",
                                    registry=r, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.http = Counter("dronectl_http_requests_total", "HTTP requests", ["method", "status"], registry=r)
        self.ws_clients = Gauge("dronectl_ws_clients", "Connected telemetry WebSocket clients", registry=r)
        self.ws_dropped = Counter("dronectl_ws_dropped_total", "WebSocket clients dropped for falling behind",
                                  registry=r)
        self.telemetry_frames = Counter("dronectl_telemetry_frames_total", "Telemetry frames published",
                                        ["drone"], registry=r)
        self.link_up = Gauge("dronectl_drone_link_up", "1 if the drone's link is connected", ["drone"], registry=r)
        self.queued = Gauge("dronectl_incidents_queued", "Incidents waiting for a drone", registry=r)
