"""The documentation site (docs/, MkDocs) and the commands it shows."""
