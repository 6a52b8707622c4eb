"""The doors into the emulator: the in-process botocore hook and the HTTP server."""
