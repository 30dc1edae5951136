"""Real servers on loopback for tests, the demo and the benchmarks.

Each server is started on free ports in a folder of its own and stopped by PID. Nothing here is part of
the provider package: it is the harness around it.
"""
