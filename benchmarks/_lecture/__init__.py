"""The lecture benchmark (benchmarks/lecture.py): the first minute of a class.

- ``course``: the course repository (a notebook naming ``python3`` whose first cell
  imports a package of the course's requirements).
- ``baseline_venv``: plain JupyterHub's own clean venvs (tuned, and with coursehub's
  environment fixes), made with pip outside the repository.
- ``sites``: the hubs under test (coursehub, the baselines), their settings.
- ``warm``: servers started before class (coursehub's warm-up, an admin's REST calls).
- ``record``: records JupyterLab 4's start-up from Chromium (run once, committed).
- ``recording``: templating of that capture, and the replay plan derived from it.
- ``net``: ``*.localhost`` names resolved to loopback for the simulated students.
- ``wire``: kernel messages on JupyterLab's websocket (v1 binary framing).
- ``student``: one simulated student (pages, then the replay, then the kernel).
- ``storm``: releasing the class and the figures of one storm.
- ``report``: the matrix's table and ratios, printed and rendered into the docs.
"""
