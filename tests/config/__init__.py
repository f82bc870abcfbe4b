"""The site as a whole: settings, URLs, the shell, tenants in URLs, processes."""
