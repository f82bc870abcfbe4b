"""The users_admin app: search, the user page, actions, bulk runs, personal data."""
