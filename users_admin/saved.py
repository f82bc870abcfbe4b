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


def remember(
    user: AbstractBaseUser,
    query_string: str,
    query: str,
    recent: list[RecentSearch] | None = None,
) -> list[RecentSearch]:
    """Keep this search at the top of the user's recent searches (RECENT_KEPT of them), and
    return them as `RecentSearch.objects.of(user)` lists them now, newest first.

    `recent` is that list as the page read it before (else it is read here: one SELECT). Then a
    repeated search (paging, Refresh, the same search again) costs one UPDATE; a new one an
    INSERT (a parallel request storing the same search first is no error) and, when the list
    was full, one DELETE of what falls off it, in one transaction; the same query asked with
    other settings one DELETE more.
    """
    now = timezone.now()
    digest = RecentSearch.digest_of(query_string)
    mine = RecentSearch.objects.of(user)
    if recent is None:
        recent = list(mine)
    # The same query asked another way (other columns, page size, sort) is one recent search,
    # reopened the latest way.
    if any(entry.query == query and entry.digest != digest for entry in recent):
        mine.filter(query=query).exclude(digest=digest).delete()
        recent = [entry for entry in recent if entry.query != query or entry.digest == digest]
    this = next((entry for entry in recent if entry.digest == digest), None)
    if this is not None and mine.filter(digest=digest).update(searched_at=now, query=query):
        this.searched_at, this.query = now, query
    else:
        this = RecentSearch(
            owner_id=user.pk,
            digest=digest,
            query_string=query_string,
            query=query,
            searched_at=now,
        )
        recent = [entry for entry in recent if entry.digest != digest]
        if len(recent) < RECENT_KEPT:
            RecentSearch.objects.bulk_create([this], ignore_conflicts=True)
        else:
            with transaction.atomic():  # one transaction for both writes
                RecentSearch.objects.bulk_create([this], ignore_conflicts=True)
                kept = mine.values("pk")[:RECENT_KEPT]
                mine.exclude(pk__in=kept).delete()
    return [this, *(entry for entry in recent if entry is not this)][:RECENT_KEPT]
