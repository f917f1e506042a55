"""python-socketio's client API over greensio: ``from greensio import compat as socketio``.

``Client``, ``SimpleClient``, ``ClientNamespace`` and ``exceptions`` follow
python-socketio 5.x; the differences are listed in the README ("Coming from
python-socketio").
"""

from __future__ import annotations

from . import exceptions
from .client import Client
from .namespace import ClientNamespace
from .simple_client import SimpleClient

__all__ = ["Client", "ClientNamespace", "SimpleClient", "exceptions"]
