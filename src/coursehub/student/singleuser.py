"""Entry point of every student server: JupyterHub's own jupyterhub-singleuser.

Kept tiny on purpose: it runs once per server start, as the student.
"""

from __future__ import annotations

import sys


def main() -> None:
    from coursehub.student.lockdown import lock_down

    # before anything else is imported: nothing from the student's home is loaded
    lock_down()
    # jsonschema imports rfc3987_syntax when installed, and that module compiles a
    # Lark grammar at import time: about 2 CPU-seconds of every server start, spent
    # on an IRI format check that nothing in a student server uses. Marking it
    # absent makes jsonschema skip that one format checker.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    from jupyterhub.singleuser import main as singleuser_main

    sys.exit(singleuser_main())


if __name__ == "__main__":
    main()
