"""Stash's side: its database (all SQL against it is in `reader`), its config, path mappings,
its GraphQL API and what the app sends it.
"""
