"""batchstore's HTTP front: the dashboard (and, with the server branch, the seed APIs)."""
