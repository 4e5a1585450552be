"""Moved to coursehub.hub.auth.local; this name stays because Kubernetes values rendered
by earlier releases set it as the hub's authenticator_class."""

from coursehub.hub.auth.local import CoursehubLocalAuthenticator  # noqa: F401
