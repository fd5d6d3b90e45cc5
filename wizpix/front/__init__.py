"""The front process: HTTP routes, guards, the cutter that drives a request through the
runners, health, cache, observability, BentoML's typed APIs and tasks. Never imports the
runner or weights packages: the front loads no model library."""
