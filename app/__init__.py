"""The shell: app factory, settings, database, Redis, auth primitives, errors, pagination,
storage, jobs, embedded servers and the CLI."""
