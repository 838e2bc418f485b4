"""sim's MAVLink services: framing, commands, telemetry streams, mission, parameter and offboard protocols."""
