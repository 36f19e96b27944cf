"""The names of the jobs, for whoever asks for one (services, through kith.jobqueue.outbox) and
for their definitions (kith.tasks.jobs): the one thing the two share."""

SYNC = "kith.sync"
SCORE = "kith.score"
REFRESH = "kith.refresh"
REFRESH_VIEWS = "kith.refresh_views"
VACUUM_VIEWS = "kith.vacuum_views"
RESCORE = "kith.rescore"
CLEANUP = "kith.cleanup"
CONNECTION_SYNC = "kith.connection_sync"
SYNC_CONNECTIONS = "kith.sync_connections"
