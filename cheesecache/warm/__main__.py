"""
C{python -m cheesecache.warm}: the same as C{cheesecache warm}.
"""

import sys

from .command import warmCommand

sys.exit(warmCommand(sys.argv[1:], sys.stdout))
