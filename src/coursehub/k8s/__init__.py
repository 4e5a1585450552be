"""Moved: see coursehub.hub.spawners.kubernetes and coursehub.config.translate.helm."""
