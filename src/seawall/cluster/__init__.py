"""State that several gateways (workers of one `seawall serve --workers N`, or instances on many
machines) share through the Redis of limits.redis_url: circuits and rotation (circuits.py), the
ids the gateway hands out and clients bring back (ids.py), one alert evaluator among them
(alerts.py, lease.py) and console sessions (sessions.py). link.py is their one connection.

Without limits.redis_url none of this is built: the gateway keeps all of it in its own memory,
as one process always did. The decisions stay pure in decide/; this package only moves their
inputs and outputs between processes, off the request path (docs/scaling.md has the table).
"""
