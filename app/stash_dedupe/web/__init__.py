"""What the page may call: the HTTP API over the domain, behind the token and Host gate."""
