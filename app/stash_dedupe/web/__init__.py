"""What the page may call: the HTTP API over the domain, behind the token and Host gate.

`gate` (Host, token, security headers, the catch-all for a bug), `state` (one launch),
`parsing` (reading a request), `shapes` (the JSON answered), `page` (the page's files),
`routes` (the API, by topic), `server` (the threaded server and `start`).
"""
