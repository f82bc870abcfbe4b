"""The exports app: exports, imports into Auth0, scheduled exports."""
