"""Local accounts: rosters (roster.py), bcrypt hashes (passwords.py) and the
database-backed store (store.py). Import from the submodules; this package stays
light so the hub can load it before its configuration is final."""
