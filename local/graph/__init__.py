"""Graph sandbox: a local, Graph-compatible HTTP server (a subset of Microsoft Graph v1.0).

Start it with ``python -m local.graph`` or, in tests, ``local.graph.testing.running_graph_sandbox``.
The app factory is ``local.graph.server.create_app``.
"""
