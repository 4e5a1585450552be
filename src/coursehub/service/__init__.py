"""The coursehub service: the ASGI app the hub starts as a managed service.

Build it with `coursehub.service.app.create_app(ServiceSettings.from_env(os.environ))`;
run it with `python -m coursehub.service`. Nothing here reads configuration at import.
"""
