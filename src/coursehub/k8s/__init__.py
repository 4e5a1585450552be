"""coursehub on Kubernetes: Zero-to-JupyterHub values, extra manifests, the spawner."""
