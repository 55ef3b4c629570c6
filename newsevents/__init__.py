"""newsevents: a streaming news event classifier (command line and configuration)."""

__version__ = "0.1.0"
