"""Runtime: configuration, app factory, runners, scheduler and CLI."""
