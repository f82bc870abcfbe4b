"""What the sandbox keeps for roles, permissions and organizations (tables in the sandbox
database): the tenant's roles and organizations, and each user's assignments to them."""

from __future__ import annotations

from django.db import models


class Role(models.Model):
    """A tenant role; `permissions` is its list of {resource_server_identifier, permission_name,
    description, resource_server_name} (as GET /roles/{id}/permissions answers them)."""

    id = models.CharField(primary_key=True, max_length=32)
    name = models.CharField(max_length=255, unique=True)
    description = models.CharField(max_length=255, blank=True)
    permissions = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return self.name


class ResourceServer(models.Model):
    """An API of the tenant (POST /resource-servers); `body` is the object as GET
    /resource-servers/{id} answers it, without its id. Its `scopes` are the permissions a user
    may be given."""

    id = models.CharField(primary_key=True, max_length=24)
    identifier = models.CharField(max_length=600, unique=True)
    body = models.JSONField(default=dict)

    def __str__(self) -> str:
        return self.identifier


class UserRole(models.Model):
    """A role assigned to a user directly (POST /users/{id}/roles)."""

    user = models.ForeignKey("sandbox.TenantUser", on_delete=models.CASCADE)
    role = models.ForeignKey(Role, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "role"], name="sandbox_user_role_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.role_id}"


class UserPermission(models.Model):
    """A permission assigned to a user directly (POST /users/{id}/permissions)."""

    user = models.ForeignKey("sandbox.TenantUser", on_delete=models.CASCADE)
    resource_server_identifier = models.CharField(max_length=255)
    permission_name = models.CharField(max_length=255)
    description = models.CharField(max_length=255, blank=True)
    resource_server_name = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"{self.resource_server_identifier} {self.permission_name}"


class Organization(models.Model):
    """An organization; `body` is the object as GET /organizations/{id} answers it."""

    id = models.CharField(primary_key=True, max_length=32)
    name = models.CharField(max_length=50, unique=True)
    body = models.JSONField(default=dict)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's membership of an organization; `roles` are its organization role ids."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    user = models.ForeignKey("sandbox.TenantUser", on_delete=models.CASCADE)
    created_at = models.CharField(max_length=32)
    roles = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="sandbox_member_once")
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.user_id}"
