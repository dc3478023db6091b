"""What the tests share, one module per kind of thing (``pythonpath`` in pyproject.toml puts
``tests/`` on the path, so every test imports ``helpers.<module>``):

- ``components``: what a test needs from the machine; missing, it skips, or fails under CI.
- ``server``: a Playwire server process (``playwire.devserver``'s) and accounts on it.
- ``clients``: python-socketio clients that queue what they receive, and waits on them.
- ``raw``: clients below python-socketio (Engine.IO spoken by hand), the server's memory.
- ``postgres``: a PostgreSQL server of the run's own, and scratch databases in it.
- ``cluster``: Redis, several nodes and nginx, started as ``make cluster`` starts them.
- ``browser``: Debian's Chromium, and what a person does on the page and sees.
- ``jwts``: a game backend's keys and tokens, and a JWKS endpoint.
"""
