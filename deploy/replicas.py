"""Run N dashboard replicas (and nginx in front of them) on one machine, for a team.

    python3 deploy/replicas.py --replicas 2 [--first-port 8501] [--nginx-port 8080] [--folder .easyflow/nginx]

Each replica is ``streamlit run dashboard/server.py`` on its own loopback port, all with this
process's environment and the same secrets file (``.streamlit/secrets.toml``, or
``--secrets FILE``): the same ``[auth] cookie_secret``, so a sign-in made on one replica is valid on
all, and the same ``EASYFLOW_REDIS_URL``, so they share results. With ``--nginx-port``, nginx
(Debian's, run with ``-c``/``-p`` under ``--folder``) listens there with ``deploy/nginx.conf``
rendered for these ports. A replica that exits is started again (after a second); Ctrl-C or
SIGTERM stops them all. For systemd, see deploy/easyflow-dashboard@.service instead.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx.conf"


def render_nginx(ports: list[int], listen: int, folder: Path) -> str:
    """deploy/nginx.conf for these replica ports and this listening port, wrapped as a whole
    configuration (events, http, logs and temp files under ``folder``) for ``nginx -c -p``."""
    text = NGINX_CONF.read_text(encoding="utf-8")
    servers = "".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;\n" for port in ports)
    text = re.sub(r"(?m)^    server 127\.0\.0\.1:\d+ .*# replicas\.py\n", "", text)
    text = text.replace("    keepalive 16;", servers + "    keepalive 16;")
    text = re.sub(r"(?m)^    listen \d+;.*$", f"    listen 127.0.0.1:{listen};", text)
    temp = folder / "temp"
    return f"""worker_processes 1;
pid {folder / 'nginx.pid'};
error_log {folder / 'error.log'} warn;
events {{ worker_connections 1024; }}
http {{
    access_log {folder / 'access.log'};
    client_body_temp_path {temp / 'body'};
    proxy_temp_path {temp / 'proxy'};
    fastcgi_temp_path {temp / 'fastcgi'};
    uwsgi_temp_path {temp / 'uwsgi'};
    scgi_temp_path {temp / 'scgi'};
{text}
}}
"""


def start_nginx(ports: list[int], listen: int, folder: Path) -> subprocess.Popen:
    """nginx in the foreground (``daemon off``) with the rendered configuration."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "temp").mkdir(exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(render_nginx(ports, listen, folder), encoding="utf-8")
    nginx = os.environ.get("EASYFLOW_NGINX", "/usr/sbin/nginx")
    subprocess.run([nginx, "-t", "-q", "-p", str(folder), "-c", str(config), "-g", "daemon off;"], check=True)
    return subprocess.Popen([nginx, "-p", str(folder), "-c", str(config), "-g", "daemon off;"])


def start_replica(port: int, secrets: Path | None, log: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    args = [sys.executable, "-m", "streamlit", "run", "dashboard/server.py", "--server.headless", "true",
            "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    if secrets is not None:
        args += ["--secrets.files", str(secrets)]
    out = log.open("a") if log is not None else None
    return subprocess.Popen(args, cwd=ROOT, env=env or dict(os.environ), stdout=out, stderr=subprocess.STDOUT if out else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 deploy/replicas.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--first-port", type=int, default=8501)
    parser.add_argument("--nginx-port", type=int, default=None, help="also run nginx, listening here")
    parser.add_argument("--folder", type=Path, default=ROOT / ".easyflow" / "nginx", help="nginx's files")
    parser.add_argument("--secrets", type=Path, default=None, help="the secrets file all replicas read")
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    ports = [args.first_port + i for i in range(args.replicas)]
    replicas = {port: start_replica(port, args.secrets) for port in ports}
    nginx = start_nginx(ports, args.nginx_port, args.folder) if args.nginx_port else None
    stopping = False

    def stop(*_) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"replicas on {', '.join(map(str, ports))}" + (f"; nginx on {args.nginx_port}" if nginx else ""), flush=True)
    while not stopping:
        time.sleep(1)
        for port, process in list(replicas.items()):
            if process.poll() is not None and not stopping:
                print(f"replica {port} exited ({process.returncode}); starting it again", file=sys.stderr, flush=True)
                replicas[port] = start_replica(port, args.secrets)
    for process in [*replicas.values(), *([nginx] if nginx else [])]:
        process.terminate()
    for process in [*replicas.values(), *([nginx] if nginx else [])]:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
