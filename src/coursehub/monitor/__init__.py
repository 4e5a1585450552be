"""The monitor: what runs on the hub right now (servers, kernels), sampled by the
service for statistics, runaway kernels and disk use."""
