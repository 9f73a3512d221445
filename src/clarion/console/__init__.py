"""The operator console at ``BASE_URL/admin``: people sign in with an e-mail address and a
password and run their status pages from a browser (server-rendered, works without
JavaScript; htmx, vendored, enhances it).

- ``models``: users and their server-side sessions; ``passwords``: hashing and the password
  rules; ``users``: the accounts' operations (the CLI's ``clarion users``); ``sessions``:
  signing in and out, session lookup, CSRF tokens and flash messages.
- ``web``: what every console page uses (templates, forms, the signed-in user with a role,
  security headers); ``routes``: the console's router; ``overview``: the home screen's reads.
"""
