"""Multilingual topic matching: a query language, normalisation and one shared index.

A desk following "export controls" must be alerted by a French article that
says "contrôles à l'exportation": queries are normalised and stemmed in every
language the topic covers, articles in their own language, and all topics are
compiled into one index so matching stays cheap with thousands of topics.
The query language is described in QUERY_LANGUAGE.md.
"""

from aggregator.query.normalize import normalize, tokenize
from aggregator.query.syntax import Query, describe, parse_query, validate_query
from aggregator.topics.analyze import AnalyzedDoc, Document, analyze
from aggregator.topics.matcher import TopicIndex, TopicMatch, TopicSpec
from aggregator.topics.plan import DEFAULT_LANGUAGES, prefilter_terms
from aggregator.topics.snippets import HighlightStyle, Snippet, highlight

__all__ = [
    "DEFAULT_LANGUAGES",
    "AnalyzedDoc",
    "Document",
    "HighlightStyle",
    "Query",
    "Snippet",
    "TopicIndex",
    "TopicMatch",
    "TopicSpec",
    "analyze",
    "describe",
    "highlight",
    "normalize",
    "parse_query",
    "prefilter_terms",
    "tokenize",
    "validate_query",
]
