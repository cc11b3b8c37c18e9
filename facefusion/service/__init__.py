"""``facefusion serve``: the studio as an HTTP job API (keys, job store, storage, workers, signed callbacks)."""
