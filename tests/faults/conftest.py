"""Fault-injection tests run monkey-patched, as most gevent applications do."""

from gevent import monkey

monkey.patch_all()
