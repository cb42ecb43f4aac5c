"""What every worker (and, later, every host) shares: the state database, keys,
sessions, usage, and each key's folders."""
