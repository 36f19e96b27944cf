"""The aggregate read side: dashboard, companies, tags, news mentions (read models in db/views)."""
