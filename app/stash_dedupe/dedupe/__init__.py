"""How duplicates are found and reviewed: grouping by phash, keeper rules, "not a duplicate"
decisions, auto-resolve, and the review session that ties them together.
"""
