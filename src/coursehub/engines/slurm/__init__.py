"""The slurm backend: each (student x course) server is a Slurm job run as the student."""
