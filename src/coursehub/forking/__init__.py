"""Forked student servers: a template process per server environment that has
imported the single-user server stack once, and forks a child per student start.

- template: the template process (root; no secrets, no threads, no event loop)
- child: what a forked child does to become one student's server
- protocol: the small framed protocol on the template's local socket
- preload: which modules the template imports
- manager: the hub side (starts, checks and replaces templates; asks for forks)
- sandbox_init: the first processes of a grading sandbox (root, then the run's account)
"""
