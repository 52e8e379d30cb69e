"""How removal stays safe: plans and their checks, the write-ahead journal, the lock that
serialises removals, trash and file moves, crash recovery and undo.
"""
