"""HTTP: GET /health (JSON) and GET /metrics (Prometheus text) for operators, and the
caseworkers' dashboard (host.dashboard.app) at every other path.

Starlette, served by uvicorn in a thread of the service's process. Handlers never touch the
engine or the ingest thread's database connection: they read what the service publishes, the
dashboard reads its own connection, and people's actions go through the service's loop
(host.serve.desk).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from host.serve.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger("anbu.web")


def app(health: Callable[[], dict], metrics: Metrics,
        dashboard: Starlette | None = None) -> Starlette:
    async def health_page(request: Request) -> JSONResponse:
        report = health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    async def metrics_page(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    routes: list = [Route("/health", health_page), Route("/metrics", metrics_page)]
    if dashboard is not None:
        routes.append(Mount("/", app=dashboard))
    return Starlette(routes=routes)


class WebServer:
    """uvicorn on a socket bound up front, so port 0 gives a free port the caller can read."""

    def __init__(self, application: Starlette, host: str, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(application, log_level="warning", lifespan="off",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name="anbu-web", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except Exception:  # the endpoints are for operators: their failure must not stop ingest
            log.exception("web server stopped")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
