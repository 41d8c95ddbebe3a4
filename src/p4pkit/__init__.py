"""p4pkit: pay-for-performance and value-based payment programs, end to end, with safeguards."""

__version__ = "0.1.0"
