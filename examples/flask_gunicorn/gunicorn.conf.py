"""gunicorn settings for app.py: the gevent worker, two worker processes.

SOCKETIO_URL=http://localhost:3000 gunicorn -c gunicorn.conf.py app:app
"""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
worker_class = "gevent"
workers = 2
graceful_timeout = 10


def worker_exit(server, worker):
    """Leave the Socket.IO server cleanly: it sees "client namespace disconnect", not a dropped connection."""
    client = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("greensio")
    if client is not None:
        client.close()
