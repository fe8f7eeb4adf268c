"""
The Simple Repository API as pure values and functions: no I/O, no reactor.

L{model} holds the values, L{parse} reads upstream pages into them,
L{render} writes them out again, L{negotiate} picks a representation and
L{names} normalizes project names.
"""
