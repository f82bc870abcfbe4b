"""The one table of the Management API client: shared rate budgets when there is no Redis."""

from __future__ import annotations

from django.db import models


class RateBudget(models.Model):
    """A tenant's rate-limit bucket as bulk runs share it (management_api/pacing.py).

    Times are Unix epoch seconds: `next_at` is the GCRA's theoretical arrival time of the next
    bulk call, `paused_until` when the budget sends again after a 429 or low headers.
    """

    tenant = models.CharField(max_length=100)
    bucket = models.CharField(max_length=40)
    next_at = models.FloatField(default=0.0)
    paused_until = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "bucket"], name="rate_budget_per_bucket")
        ]

    def __str__(self) -> str:
        return f"{self.tenant}/{self.bucket}"
