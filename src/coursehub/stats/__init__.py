"""Usage statistics: notebook activity rolled up from events, monitor samples of
servers, kernels and the machine, their retention, and the reports drawn from them."""
