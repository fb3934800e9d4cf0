"""GET /playground: one self-contained page (HTML, vanilla JS, inline CSS; nothing fetched from elsewhere)
that calls the service's own endpoints, plus the files it loads from under /playground/.

The files sit beside this module and ship with the bento (pyproject.toml's [tool.bentoml.build] includes
service/playground/*).
"""
from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

HERE = Path(__file__).resolve().parent
# The only files served: a fixed list, so no request path can reach another file.
ASSETS = {
    "playground.js": "text/javascript; charset=utf-8",
    "sample_stay.csv": "text/csv; charset=utf-8",  # a synthetic ICU stay (not a patient's record)
}
NO_STORE = {"Cache-Control": "no-cache"}  # the page changes with the service: always revalidate


async def page(_: Request) -> HTMLResponse:
    return HTMLResponse((HERE / "index.html").read_text(encoding="utf-8"), headers=NO_STORE)


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        return JSONResponse({"error": f"no playground file {name!r}; files: {', '.join(sorted(ASSETS))}"},
                            status_code=404)
    return Response((HERE / name).read_bytes(), media_type=ASSETS[name], headers=NO_STORE)


def routes() -> list[Route]:
    return [Route("/playground", page, methods=["GET"]), Route("/playground/{name}", asset, methods=["GET"])]
