"""
The HTTP side: the twisted.web resource tree.

L{cheesecache.web.site} builds the tree; L{cheesecache.web.simple} answers
C{/simple/}, L{cheesecache.web.files} answers C{/files/}.
"""
