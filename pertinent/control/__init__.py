"""The operations layer: one function per Personalize control-plane operation.

Each takes a :class:`~pertinent.control.context.Context` and the request's members as snake_case keyword
arguments, and returns the response's members as a snake_case dict. The API layer does the wire work.
"""

from __future__ import annotations

from pertinent.control import (
    algorithms,
    batch_jobs,
    campaigns,
    data_deletion,
    dataset_groups,
    datasets,
    event_trackers,
    filters,
    import_jobs,
    metric_attributions,
    recipes,
    recommenders,
    schemas,
    solutions,
    tags,
)
from pertinent.control.common import Operation
from pertinent.control.context import Context

OPERATIONS: dict[str, Operation] = {
    **dataset_groups.OPERATIONS,
    **schemas.OPERATIONS,
    **datasets.OPERATIONS,
    **import_jobs.OPERATIONS,
    **event_trackers.OPERATIONS,
    **filters.OPERATIONS,
    **solutions.OPERATIONS,
    **campaigns.OPERATIONS,
    **recipes.OPERATIONS,
    **tags.OPERATIONS,
    **recommenders.OPERATIONS,
    **batch_jobs.OPERATIONS,
    **data_deletion.OPERATIONS,
    **metric_attributions.OPERATIONS,
    **algorithms.OPERATIONS,
}

__all__ = ["OPERATIONS", "Context", "Operation"]
