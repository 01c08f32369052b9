"""The analysts' web console under /console: server-rendered pages (Jinja2 + htmx), no CDN."""

from cyberunit.console.routes import routes

__all__ = ["routes"]
