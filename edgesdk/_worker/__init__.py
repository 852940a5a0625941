"""The child-process protocol: the parent that starts a job, the child that runs it."""
