"""Spot the notice an editor appends when a story is corrected or updated.

A notice is either a *labelled* paragraph ("Correction:", "Mise à jour :",
"Anmerkung der Redaktion:", "(Update, Feb. 3):") or a *stock phrase* ("An
earlier version of this article ...").  Labels need their colon or dash:
without one, "Corrections officers said ..." or a section heading such as
"(Update 19-May-2020) Test" would be misread as a correction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aggregator.changes.volatile import DATE, DATETIME, TIME, TIME_MASK

_LABELS = (
    r"corrections?|clarifications?|updated?|editor['’]?s['’]? note|editors['’] note|errat(?:um|a)"
    r"|mise à jour|rectificatif|correctif|précision|note de la rédaction|n\.?d\.?l\.?r\.?"
    r"|korrektur|berichtigung|aktualisierung|anmerkung der redaktion|hinweis der redaktion"
    r"|transparenzhinweis|corrección|fe de (?:errores|erratas)|actualización|aclaración"
    r"|nota del editor|nota de la redacción|rettifica|aggiornamento|precisazione"
    r"|nota della redazione|errata corrige"
)
# Between the label and its colon: a parenthesised note or a date (and time).
_GAP = rf"(?:\s*\([^)\n]{{0,40}}\)|,?\s*(?:on |le |am |el |del |il )?(?:{DATETIME}|{DATE}|{TIME}|{re.escape(TIME_MASK)}))?"
_LABELLED = re.compile(rf"^[\W_]*(?:{_LABELS})\b{_GAP}\s*(?::|\s[-–—]\s|[-–—]\s)", re.IGNORECASE)
_PHRASES = re.compile(
    r"an earlier version of this (?:article|story|report|post|piece)"
    r"|this (?:article|story|report|post) (?:has been|was) (?:corrected|amended|updated|changed)"
    r"|une (?:précédente )?version (?:précédente |antérieure )?de cet article"
    r"|cet article a été (?:corrigé|modifié|mis à jour)"
    r"|in einer früheren version (?:dieses|des) (?:artikels|textes|beitrags)"
    r"|diese[rs]? (?:artikel|text|beitrag) wurde (?:korrigiert|aktualisiert|geändert)"
    r"|una versión anterior de (?:este|esta) (?:artículo|nota|información)"
    r"|una versione precedente di questo articolo",
    re.IGNORECASE,
)


def is_correction_notice(line: str) -> bool:
    """True when a paragraph reads as a correction, clarification or update notice."""
    return bool(_LABELLED.search(line) or _PHRASES.search(line))


def find_correction(added_lines: Iterable[str]) -> str | None:
    """The first added paragraph that is a correction/update notice, if any."""
    return next((line for line in added_lines if is_correction_notice(line)), None)
