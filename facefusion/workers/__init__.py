"""Where service jobs run: the embedded pool of worker threads (``local``)."""
