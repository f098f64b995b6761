"""The live dashboard: a read-only web process beside the collector.

``agent-viz-monitor dashboard`` serves a Starlette app on uvicorn: a JSON API over the store,
a server-sent-events stream of committed events, and three pages (Now, Session, Usage) whose
scripts and charting library (uPlot, vendored under ``static/vendor``) ship in the wheel, so
nothing is built at install time or fetched from the internet at run time.

Nothing is imported here: ``collector.cli`` imports ``collector.dashboard.command`` to build its
parser on every run, and the web stack loads only when the dashboard starts.
"""
