"""The control plane's admin listener: its ASGI app, routes, console and audit."""
