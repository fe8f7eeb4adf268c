"""
Tests for cheesecache; run with C{python -m twisted.trial tests}.
"""
