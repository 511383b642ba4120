"""Rate control: the pacing rules, the local limiter and the Redis-shared budget."""
