"""Sending jobs: the taskiq broker, retries, the jobs' database engine, and the outbox through which services request jobs by name."""
