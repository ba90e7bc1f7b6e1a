"""Figures built once per explanation: a click that redraws the page sends the same figure again instead of
building it anew (building the Fig. 4 heatmap is most of a queue click's time)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

FIGURES_KEPT = 128  # across sessions; one heatmap's figure is about 100 KB

_figures: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()
_lock = threading.Lock()


def cached_figure(owner: Any, kind: str, build: Callable[[], Any]) -> Any:
    """The figure `build()` made for this very `owner` object (an Explanation, a TagEvidence) and `kind`.

    Kept by the owner's identity while the owner lives; the owner is held beside the figure, so its id
    cannot be reused by another object while the entry exists.
    """
    key = (id(owner), kind)
    with _lock:
        found = _figures.get(key)
        if found is not None and found[0] is owner:
            _figures.move_to_end(key)
            return found[1]
    figure = build()
    with _lock:
        _figures[key] = (owner, figure)
        while len(_figures) > FIGURES_KEPT:
            _figures.popitem(last=False)
    return figure
