"""Remembering searches: the recent ones of each staff member, and the ones saved by name."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone

from .models import RECENT_KEPT, RecentSearch

# Parameters that say how a page was fetched, not which search it is.
TRANSIENT_PARAMS = ("page", "refresh", "switch", "add_row", "remove_row")


def search_query_string(params: QueryDict) -> str:
    """The query string that reopens this search (first page, through the cache)."""
    kept = params.copy()
    for name in TRANSIENT_PARAMS:
        kept.pop(name, None)
    return kept.urlencode()


def remember(user: AbstractBaseUser, query_string: str, query: str) -> None:
    """Keep this search at the top of the user's recent searches (RECENT_KEPT of them).

    A repeated search (paging, Refresh, the same search again) costs one UPDATE (and a DELETE of
    the same query asked with other settings); a new one an
    INSERT (a parallel request storing the same search first is no error) and one DELETE of
    what falls off the list.
    """
    now = timezone.now()
    digest = RecentSearch.digest_of(query_string)
    mine = RecentSearch.objects.of(user)
    # The same query asked another way (other columns, page size, sort) is one recent search,
    # reopened the latest way.
    mine.filter(query=query).exclude(digest=digest).delete()
    if mine.filter(digest=digest).update(searched_at=now, query=query):
        return
    with transaction.atomic():  # one transaction for both writes
        RecentSearch.objects.bulk_create(
            [
                RecentSearch(
                    owner_id=user.pk,
                    digest=digest,
                    query_string=query_string,
                    query=query,
                    searched_at=now,
                )
            ],
            ignore_conflicts=True,
        )
        kept = mine.values("pk")[:RECENT_KEPT]
        mine.exclude(pk__in=kept).delete()
