"""The desk's read model: streams assembled from storage rows (wire copies grouped,
the match to show, triage state), version comparisons and feed activity.

Used by the facade (``Aggregator.stream`` and friends); the web layer and the
reader API see only the records in ``aggregator.types``.
"""

from aggregator.desk.stream import activity, compare, feed_scope, stream_page

__all__ = ["activity", "compare", "feed_scope", "stream_page"]
