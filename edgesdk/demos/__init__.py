"""Built-in demos that run on shipped data (the digits CNN)."""
