"""Reading pictures and videos: Stash-identical phashes, frame sampling and comparison,
thumbnails, and the backfill job.
"""
