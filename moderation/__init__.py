"""Reports, queues, leases, decisions, appeals, audit log (see the moderation issue)."""
