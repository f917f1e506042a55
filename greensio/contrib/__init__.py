"""Integrations of greensio with other tools (each needs its own extra, e.g. ``greensio[locust]``)."""
