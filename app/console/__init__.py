"""The command centre's console: server-rendered pages at /console/ for dispatchers (and,
on the same foundation, chiefs and admins). It calls the domains' services directly,
never its own HTTP API; ``web`` holds its plumbing, ``routes`` its pages."""
