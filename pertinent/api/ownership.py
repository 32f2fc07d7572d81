"""Refuse another account's ARNs at the edge, before any operation (or cache) sees them.

The store already hides other accounts' records (:mod:`pertinent.caller`); this check makes the same
promise for code that looks things up by ARN without the store (serving caches, loaded models): any
Personalize ARN in a request that the caller does not own answers ResourceNotFoundException, exactly as
Describe/Delete of a missing resource does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pertinent.caller import current_caller
from pertinent.errors import ResourceNotFoundException

_PERSONALIZE_ARN = re.compile(r"^arn:[^:]*:personalize:")


def refuse_foreign_arns(value: Any) -> None:
    """ResourceNotFoundException for the first Personalize ARN in ``value`` the caller may not read."""
    caller = current_caller()
    if caller is None:
        return
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _PERSONALIZE_ARN.match(node) and not caller.may_read(node):
                raise ResourceNotFoundException(f"Could not find resource with ARN {node[:300]}.")
        elif isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
