"""Personalized search over the item catalog: an embedded tantivy index, the OpenSearch query DSL, and the
OpenSearch ``personalized_search_ranking`` re-ranking processor (see docs/search.md).

Modules: :mod:`~pertinent.search.index` (the index on disk), :mod:`~pertinent.search.query_dsl` (search
bodies and responses), :mod:`~pertinent.search.rerank` (the blend), :mod:`~pertinent.search.pipelines`
(pipeline config, ``ext`` parameters, running the processor), :mod:`~pertinent.search.errors` and
:mod:`~pertinent.java_compat` (OpenSearch's error shapes and Java's spelling of values).
"""
