"""The watchdog: an HTTP server that turns a process or an upstream HTTP server into a function."""
