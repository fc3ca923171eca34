"""Strict JSON for metrics: an undefined value (NaN, an infinity) is written as null.

Python's ``json`` writes NaN as the bare token ``NaN``, which is not JSON: ``jq``,
JavaScript's ``JSON.parse`` and most JSON readers other than Python's refuse the whole
file. A metric that is undefined (the sensitivity of a class absent from the split, the
AUC of a class without negatives) is kept as ``float('nan')`` in Python and becomes
``null`` only where it is written.
"""
import math
from typing import Any


def strict_json(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None, in nested dicts,
    lists and tuples (tuples become lists, as JSON writes them); other values as given.
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj
