"""The end-to-end CPU demo and the offline models it (and the tests) build without a model hub."""
