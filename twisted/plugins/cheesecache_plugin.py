"""
The C{twistd cheesecache} plugin: the service maker, and nothing else.
"""

from twisted.application.service import ServiceMaker

cheesecache = ServiceMaker(
    "cheesecache",
    "cheesecache.tap",
    "A caching Python package index (Simple API, PEP 503/691).",
    "cheesecache",
)
