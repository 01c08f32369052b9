"""The console's own assets (CSS, JS, htmx, icon), served by the app: no CDN, closed networks work."""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


class Assets:
    """Every file in static/, read once; URLs carry a content hash so browsers may cache them long."""

    def __init__(self, folder: Path = STATIC) -> None:
        self.files: dict[str, tuple[bytes, str, str]] = {}
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix in TYPES:
                content = path.read_bytes()
                self.files[path.name] = (
                    content,
                    TYPES[path.suffix],
                    hashlib.sha256(content).hexdigest()[:12],
                )

    def url(self, name: str) -> str:
        return f"/console/static/{name}?v={self.files[name][2]}"

    async def serve(self, request: Request) -> Response:
        found = self.files.get(request.path_params["name"])
        if found is None:
            return Response("not found", status_code=404, media_type="text/plain")
        content, media, version = found
        return Response(
            content,
            media_type=media,
            headers={"Cache-Control": "public, max-age=86400", "ETag": f'"{version}"'},
        )
