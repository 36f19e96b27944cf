"""The jobs (taskiq tasks), the scheduler and the worker: the layer above the services it calls."""
