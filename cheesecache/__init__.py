"""
cheesecache: a private Python package index that caches upstream indexes.

Serves the Simple Repository API (PEP 503 / 691) to pip, uv, poetry and pdm,
caching one or more upstream indexes on disk.
"""

__version__ = "0.1.0"
