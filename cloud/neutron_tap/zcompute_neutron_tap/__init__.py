"""ML2 mechanism driver of zcompute's cloud: ports bound as ``tap`` VIFs without an agent."""
