"""The collector as a service, and the commands around it.

The daemon that wires ingest and the tracker and owns signals and shutdown, the
one-instance lock, sd_notify, installing the systemd unit or LaunchAgent, ``doctor``,
and the read-only ``status`` and query commands.
"""
