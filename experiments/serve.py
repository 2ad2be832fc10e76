"""``scsim app``: serve the SolaraViz app (``experiments/app.py``) with Solara's server.

The server binds 127.0.0.1 unless ``--host`` says otherwise: the app has no
authentication, and anyone who can reach the port can run models on the machine.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
from pathlib import Path

from sim.errors import UserError

APP_FILE = Path(__file__).resolve().parent / "app.py"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def check_listenable(host: str, port: int) -> None:
    """Refuse, with one line, a host or port the server could not listen on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise UserError(f"--host: cannot resolve {host!r} ({err.strerror})") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            raise UserError(
                f"--port: cannot listen on {host}:{port} ({err.strerror}); choose another port between 1 and 65535"
            ) from None


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> int:
    """Run the app's server until it stops or Ctrl-C; returns its exit status."""
    check_listenable(host, port)
    if not is_loopback(host):
        print(f"scsim app: warning: listening on {host}, not only this machine; the app has no login", file=sys.stderr)
    print(f"scsim app: serving on http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    command = [sys.executable, "-m", "solara", "run", str(APP_FILE), "--host", host, "--port", str(port),
               "--production", "--no-open", "--log-level", "warning", "--no-check-version"]  # fmt: skip
    environment = {
        **os.environ,
        # Solara's hook checker is a development aid; served, it only repeats a
        # warning about Mesa's own SolaraViz code (the tests keep it on).
        "SOLARA_CHECK_HOOKS": "off",
        # No calls home: Solara would otherwise report usage to its telemetry service.
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false",
    }
    return subprocess.call(command, env=environment)
