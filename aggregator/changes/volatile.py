"""Recognise the parts of an article page that change without anyone editing the story.

A re-check must not report "Updated 5 minutes ago", a byline's publication
time or "34 comments" as an edit.  Two treatments, chosen by how much real text
a line carries:

* a *short* line that is little more than a timestamp or a counter ("Last
  updated: 14:32 GMT", "Aktualisiert vor 2 Stunden", "1.2k shares") is dropped
  outright, so its appearing or disappearing is not a change either;
* a *long* line keeps its words and only has its stamp masked ("... said on
  Monday. Updated 14:32 GMT" -> "... said on Monday. Updated [time]"), because
  dropping a paragraph would hide real edits in it.

Long lines are masked conservatively: only relative times, dates that carry a
clock time, labelled stamps and comment counters.  A bare "14:00" or "2,000
shares" inside prose is content (a vote time, a stock trade) and stays.
"""

from __future__ import annotations

import re

TIME_MASK = "[time]"
COUNT_MASK = "[n]"

_TZ = (
    r"(?:(?:UTC|GMT)\s?[+-]\s?\d{1,2}(?::?\d{2})?|UTC|GMT|BST|CEST|CET|MESZ|MEZ|EST|EDT|CST|CDT"
    r"|MST|MDT|PST|PDT|ET|PT|IST|JST|AEST|AEDT|Uhr|[+-]\d{2}:?\d{2})"
)
_CLOCK = (
    r"(?:(?:[01]?\d|2[0-3])[:h][0-5]\d(?::[0-5]\d)?(?:\s?[ap]\.?m\.?)?"
    r"|(?:[01]?\d|2[0-3])\.[0-5]\d\s?(?=Uhr)"
    r"|(?:1[0-2]|0?\d)\s?(?:[ap]\.m\.|[ap]m\b)"
    r"|(?:[01]?\d|2[0-3])\s?(?=Uhr))"
)
TIME = rf"(?<![\w.:])(?:{_CLOCK}(?:\s?{_TZ}\b)?)"

_MONTH = (
    r"(?:janvier|janv|january|januar|jan|février|fevrier|févr|fevr|february|februar|febrero"
    r"|febbraio|feb|mars|march|marzo|märz|mar|avril|avr|april|aprile|abril|abr|apr|mayo|maggio"
    r"|may|mai|juin|june|junio|juni|giugno|jun|juillet|juil|july|julio|juli|luglio|jul|août|aout"
    r"|august|agosto|ago|aug|septembre|september|septiembre|settembre|sept|sep|octobre|october"
    r"|oktober|octubre|ottobre|oct|okt|novembre|november|noviembre|nov|décembre|decembre"
    r"|december|dezember|diciembre|dicembre|déc|dec|dez|dic|gennaio|gen|enero|ene)\.?"
)
DATE = (
    r"(?<![\w.])(?:\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})"
    rf"|\d{{1,2}}(?:er|st|nd|rd|th)?\.?\s+(?:de\s+)?{_MONTH}(?:\s+(?:de\s+)?\d{{4}})?"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?)(?![\w])"
)
_JOIN = r"(?:\s*[,|\-–—]?\s*(?:at|à|a las|alle|um|,|-|–|—|\|)?\s*)"
DATETIME = (
    r"(?<![\w])\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
    rf"|(?:{DATE}){_JOIN}(?:{TIME})|(?:{TIME})\s*,?\s*(?:on|le|am|el|il)?\s*(?:{DATE})"
)
_UNIT_EN = r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|[smhd])"
_UNIT_FR = r"(?:secondes?|minutes?|mins?|mn|heures?|jours?|semaines?|mois|[smhj])"
_UNIT_DE = r"(?:Sekunden?|Sek\.?|Minuten?|Min\.?|Stunden?|Std\.?|Tagen?|Wochen?|Monaten?)"
_UNIT_ES = r"(?:segundos?|minutos?|min|horas?|días?|semanas?|meses|mes|h)"
_UNIT_IT = r"(?:secondi|minuti|min|ore|ora|giorni|giorno|settimane|mesi)"
_N = r"(?:\d+|an?|one|une?|einer|einem|una?)"
RELATIVE = (
    rf"\b{_N}\s*{_UNIT_EN}\s+ago\b|\bil y a\s+{_N}\s*{_UNIT_FR}(?!\w)"
    rf"|\bvor\s+{_N}\s*{_UNIT_DE}(?!\w)|\bhace\s+{_N}\s*{_UNIT_ES}(?!\w)"
    rf"|\b\d+\s*{_UNIT_IT}\s+fa\b|\b(?:just now|à l'instant|gerade eben|soeben|ahora mismo)\b"
)
_STAMP_LABEL = (
    r"(?:last updated|updated|published|posted|modified|mis à jour|publié|modifié|actualisé"
    r"|zuletzt aktualisiert|aktualisiert|veröffentlicht|stand|actualizado|publicado"
    r"|aggiornato|pubblicato)"
)
STAMP = (
    rf"(?P<label>\b{_STAMP_LABEL}\b\s*(?:on|at|le|à|am|um|el|a las|il|alle)?\s*:?\s*)"
    rf"(?:{DATE}|{TIME})"
)
_COMMENT_WORD = r"(?:comments?|commentaires?|kommentare?|comentarios?|commenti|commento)"
_COUNT_WORD = (
    rf"(?:{_COMMENT_WORD}|shares?|partages?|likes?|j'aime|views?|vues|reads?|reactions?|réactions?"
    r"|retweets?|replies|reposts?|aufrufe|visualizzazioni|compartidos|condivisioni)"
)
_NUMBER = r"\d[\d.,]*\s?[kKmM]?\+?"
COMMENT_COUNT = (
    rf"(?i:\b{_NUMBER}\s*{_COMMENT_WORD}\b|\b{_COMMENT_WORD}\s*[(\[:]\s*{_NUMBER}\s*[)\]]?)"
)
COUNT = (
    rf"(?i:\b{_NUMBER}\s*{_COUNT_WORD}\b|\b{_COUNT_WORD}\s*[(\[:]?\s*{_NUMBER}\s*[)\]]?"
    r"|\b\d+\s*(?:min(?:ute)?s?\s+read|min\.?\s+de\s+lecture|min\.?\s+lesezeit)\b"
    r"|\blesezeit:?\s*\d+\s*min\.?)"
)

_FLAGS = re.IGNORECASE
_DATETIME_RE = re.compile(DATETIME, _FLAGS)
_RELATIVE_RE = re.compile(RELATIVE, _FLAGS)
_STAMP_RE = re.compile(STAMP, _FLAGS)
_COMMENT_COUNT_RE = re.compile(COMMENT_COUNT)
_ANY_VOLATILE_RE = re.compile(
    "|".join(f"(?:{p})" for p in (DATETIME, RELATIVE, COUNT, DATE, TIME)), _FLAGS
)
_WORD_RE = re.compile(r"[^\W\d_](?:[\w'’-]*\w)?")

#: Words that label a stamp or a counter rather than say anything ("Last updated: ...").
LABEL_WORDS = frozenset(
    """
    last updated update published posted modified edited on at le la les à a am um mis jour
    publié publie modifié actualisé aktualisiert veröffentlicht zuletzt stand actualizado
    actualizada publicado publicada aggiornato aggiornata pubblicato pubblicata ore alle el las
    the de du des il y vor ago hace fa and et und e o or ou oder by par von por da di
    share shares sharing comment comments commentaire commentaires kommentar kommentare
    comentario comentarios commento commenti like likes views view reads read reactions
    partager partages vues teilen compartir condividi facebook twitter x linkedin whatsapp
    email e-mail mail print imprimer drucken min mins minute minutes lecture lesezeit reading
    time gmt utc uhr today yesterday aujourd'hui hui hier heute gestern hoy ayer oggi ieri
    monday tuesday wednesday thursday friday saturday sunday lundi mardi mercredi jeudi
    vendredi samedi dimanche montag dienstag mittwoch donnerstag freitag samstag sonntag
    lunes martes miércoles jueves viernes sábado domingo lunedì martedì mercoledì giovedì
    venerdì sabato domenica
    """.split()  # noqa: SIM905 - a word list reads better as prose
)

#: A line with at most this many words besides stamps, counters and labels is a stamp line.
MAX_RESIDUAL_WORDS = 3
#: Lines longer than this are prose whatever they contain (and skip the costly scan).
MAX_STAMP_LINE_WORDS = 25


def residual_words(line: str) -> list[str]:
    """Words of ``line`` that are neither stamps/counters nor their labels."""
    stripped = _ANY_VOLATILE_RE.sub(" ", line)
    return [w for w in _WORD_RE.findall(stripped) if w.casefold() not in LABEL_WORDS]


def is_volatile_line(line: str) -> bool:
    """True for a short line that is only a timestamp or a counter with its labels.

    Such lines change on every page view or edit (the stamp, the count) while
    carrying no story text, so they are dropped from comparisons entirely.
    """
    if len(line.split()) > MAX_STAMP_LINE_WORDS or _ANY_VOLATILE_RE.search(line) is None:
        return False
    return len(residual_words(line)) <= MAX_RESIDUAL_WORDS


def mask_volatile(line: str) -> str:
    """Mask the stamps and comment counters inside a line that carries real text.

    Only unambiguous tokens are masked (see the module docstring): relative
    times, dates with a clock time, labelled stamps, comment counts.
    """
    masked = _DATETIME_RE.sub(TIME_MASK, line)
    masked = _RELATIVE_RE.sub(TIME_MASK, masked)
    masked = _STAMP_RE.sub(lambda m: m.group("label") + TIME_MASK, masked)
    return _COMMENT_COUNT_RE.sub(COUNT_MASK, masked)
