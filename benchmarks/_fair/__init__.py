"""The fairness harness every benchmark uses: one way to count, one way to compare.

- ``stats``: the one percentile function (a failure counts as infinitely slow), how
  such figures print, median and range over repetitions.
- ``idle``: wait (bounded) until the machine is idle before a storm; the wait is recorded.
- ``cpu``: CPU-seconds of the whole machine from ``/proc/stat`` over a window, and a
  per-process breakdown (hub, service, proxy, servers, kernels, accounts, git, ...).
- ``results``: commit, date, machine facts; one raw JSON file per storm under
  ``benchmarks/results/``, written as soon as the storm ends, found again to resume.
- ``window``: one storm's measured window: the idle wait, then the CPU.
- ``matrix``: targets in alternating order over repetitions, storms already measured for
  the same commit and settings skipped.

Nothing here starts a hub: benchmarks bring their targets and call these.
"""
