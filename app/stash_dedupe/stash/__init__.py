"""Stash's side: its database (all SQL against it is in `reader`), its config, path mappings,
and its GraphQL API: the client (`api`, `errors`, `url`), the documents it sends
(`documents`), what the app asks of Stash (`cleanup`, `scene_merge`, `phash_writeback`) and
`sync`, which decides those from the app's own records.
"""
