"""Accounts: rosters (roster.py), bcrypt hashes (passwords.py), the database-backed
store (store.py), the sign-in methods that open each account (signins.py: one person,
one account), one-time LMS sign-in tickets (signin_tickets.py) and single-use
`?auth_token=` links (signin_links.py). Import from the submodules; this package stays
light so the hub can load it before its configuration is final."""
