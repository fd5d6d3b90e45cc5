"""remove.bg's v1.0 API, kept apart as an API-compatibility layer: its routes, parameters,
error envelope, rate limit and image URLs, on the same cutter as ``/remove-bg``."""
