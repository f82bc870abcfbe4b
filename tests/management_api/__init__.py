"""The Management API client: calls, pacing, the tenant seam, the deadline."""
