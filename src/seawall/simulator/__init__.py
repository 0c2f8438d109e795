"""A fake LLM provider over real HTTP, speaking OpenAI's dialect.

It is Seawall's embedded default upstream, the test double for the gateway's tests and a
benchmark upstream. Public entry points: ``config.SimulatorSettings`` /
``config.load_simulator_settings``, ``app.build_app`` and ``server.run`` /
``server.serve_on_socket``. Faults (errors, resets, stalls, cut streams...) are injected per
request with the ``x-sim-fault`` header or by scripted rules; see ``faults.py``.

Importing this package does nothing.
"""
