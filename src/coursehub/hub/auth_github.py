"""Moved to coursehub.hub.auth.github; this name stays because Kubernetes values rendered
by earlier releases set it as the hub's authenticator_class."""

from coursehub.hub.auth.github import CoursehubGitHubAuthenticator  # noqa: F401
