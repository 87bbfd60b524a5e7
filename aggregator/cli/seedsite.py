"""The seed article as data, and the web page and feed a real site would serve for it.

The offline demo and the tests need an article that looks like the newsroom's
daily material: a French business story whose page carries the usual furniture
(navigation, cookie banner, related links, a promo block, a footer). Building
page and feed from the seed text here keeps one source of truth for what the
"real" article says, so tests can assert that extraction finds exactly that.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from importlib import resources
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from aggregator.exceptions import ParseError

#: Where the seed publisher is: its dates are Paris wall-clock times.
SITE_TZ = ZoneInfo("Europe/Paris")

#: Promo taglines are short; body paragraphs are full sentences well above this.
PROMO_MAX_CHARS = 100

#: How French sites abbreviate months in datelines ("3 févr. 2025").
SHORT_MONTHS = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)
_FULL_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
_MONTHS = {
    name.rstrip("."): i
    for names in (SHORT_MONTHS, _FULL_MONTHS)
    for i, name in enumerate(names, start=1)
}

_SOURCE_LINE = re.compile(
    r"^(?P<source>.+?)\s+(?P<day>\d{1,2})\s+(?P<month>[^\W\d]+)\.?\s+(?P<year>\d{4}),"
    r"\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})$"
)


@dataclass(frozen=True)
class SeedArticle:
    """The seed text split into the parts a news page shows separately."""

    section: str
    title: str
    standfirst: str
    source: str
    published: datetime  # UTC
    paragraphs: tuple[str, ...]
    promo: tuple[str, ...]


def load_seed(text: str | None = None) -> SeedArticle:
    """Parse the seed text (default: the copy packaged with aggregator)."""
    if text is None:
        text = resources.files("aggregator").joinpath("seed/article.txt").read_text("utf-8")
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    if len(blocks) < 5:
        raise ParseError(
            f"seed text has {len(blocks)} blocks; expected section, headline, "
            "standfirst, source/date line and at least one paragraph"
        )
    source, published = parse_source_line(blocks[3])
    body, promo = _split_promo(blocks[4:])
    return SeedArticle(
        section=blocks[0],
        title=blocks[1],
        standfirst=blocks[2],
        source=source,
        published=published,
        paragraphs=body,
        promo=promo,
    )


def parse_source_line(line: str) -> tuple[str, datetime]:
    """ "Eulerpool News 3 févr. 2025, 12:36" → ("Eulerpool News", that Paris time in UTC)."""
    m = _SOURCE_LINE.match(line)
    month = _MONTHS.get(m.group("month").lower()) if m else None
    if m is None or month is None:
        raise ParseError(f"seed source line is not 'Source D mois YYYY, HH:MM': {line!r}")
    local = datetime(
        int(m["year"]), month, int(m["day"]), int(m["hour"]), int(m["minute"]), tzinfo=SITE_TZ
    )
    return m["source"], local.astimezone(UTC)


def _split_promo(blocks: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The trailing run of short lines is the site's promo, the rest is the body."""
    cut = len(blocks)
    while cut > 1 and len(blocks[cut - 1]) <= PROMO_MAX_CHARS:
        cut -= 1
    return tuple(blocks[:cut]), tuple(blocks[cut:])


# ---------------------------------------------------------------------------
# HTML page


_NAV = [
    ("/", "Accueil"),
    ("/marches", "Marchés"),
    ("/actions", "Actions"),
    ("/economie", "Économie"),
    ("/politique", "Politique"),
    ("/technologie", "Technologie"),
    ("/matieres-premieres", "Matières premières"),
    ("/crypto", "Crypto"),
    ("/devises", "Devises"),
    ("/analyses", "Analyses"),
    ("/portefeuille", "Portefeuille"),
    ("/newsletter", "Newsletter"),
    ("/connexion", "Se connecter"),
]

_RELATED = [
    ("/news/bourse-de-paris-cac-40-seance", "Le CAC 40 termine en baisse avant la BCE"),
    ("/news/tsmc-resultats-trimestriels", "TSMC relève ses prévisions de ventes pour 2025"),
    ("/news/openai-levee-de-fonds", "OpenAI discute d'une levée de fonds record"),
    ("/news/bruxelles-semi-conducteurs", "Bruxelles prépare un second Chips Act"),
]

_FOOTER = [
    ("/mentions-legales", "Mentions légales"),
    ("/confidentialite", "Confidentialité"),
    ("/cookies", "Gestion des cookies"),
    ("/contact", "Contact"),
    ("/carrieres", "Carrières"),
    ("/plan-du-site", "Plan du site"),
]

COOKIE_TEXT = (
    "Nous utilisons des cookies pour mesurer l'audience et personnaliser les contenus. "
    "Vous pouvez accepter ou refuser ces cookies à tout moment."
)
FOOTER_TEXT = "© 2025 Eulerpool Research Systems. Tous droits réservés."


def _text(value: str) -> str:
    """Element content: apostrophes stay apostrophes, as on real pages."""
    return escape(value, quote=False)


def _links(pairs: Sequence[tuple[str, str]], origin: str, indent: str) -> str:
    return "\n".join(
        f'{indent}<li><a href="{escape(origin + path)}">{_text(label)}</a></li>'
        for path, label in pairs
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _head(seed: SeedArticle, url: str, title: str) -> str:
    published = seed.published.astimezone(SITE_TZ).isoformat()
    return f"""<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_text(title)} | {_text(seed.source)}</title>
<meta name="description" content="{escape(seed.standfirst)}">
<meta property="og:type" content="article">
<meta property="og:site_name" content="{escape(seed.source)}">
<meta property="og:title" content="{escape(title)}">
<meta property="og:description" content="{escape(seed.standfirst)}">
<meta property="og:url" content="{escape(url)}">
<meta property="og:locale" content="fr_FR">
<meta property="article:published_time" content="{published}">
<meta property="article:section" content="{escape(seed.section)}">
<link rel="canonical" href="{escape(url)}">
<link rel="alternate" type="application/rss+xml" title="{escape(seed.source)}"
      href="{escape(_origin(url))}/rss.xml">
<link rel="stylesheet" href="/static/site.css">
<script>window.dataLayer = window.dataLayer || []; dataLayer.push({{"page": "article"}});</script>
</head>"""


def _header(origin: str) -> str:
    return f"""<div id="cookie-consent" class="cookie-banner" role="dialog" aria-label="Cookies">
  <p>{_text(COOKIE_TEXT)}</p>
  <button type="button" class="btn-accept">Tout accepter</button>
  <button type="button" class="btn-refuse">Continuer sans accepter</button>
</div>
<header class="site-header">
  <a class="logo" href="{origin}/">Eulerpool</a>
  <nav class="main-nav" aria-label="Navigation principale">
    <ul>
{_links(_NAV, origin, "      ")}
    </ul>
  </nav>
  <form class="search" action="{origin}/recherche"><input name="q" placeholder="Rechercher"></form>
</header>"""


def _breadcrumbs(seed: SeedArticle, origin: str) -> str:
    return f"""<nav class="breadcrumbs" aria-label="Fil d'Ariane">
  <ol>
    <li><a href="{origin}/">Accueil</a></li>
    <li><a href="{origin}/news">Nouvelles</a></li>
    <li><a href="{origin}/politique">{_text(seed.section)}</a></li>
  </ol>
</nav>"""


def _article(seed: SeedArticle, title: str, paragraphs: Sequence[str]) -> str:
    local = seed.published.astimezone(SITE_TZ)
    shown = f"{local.day} {SHORT_MONTHS[local.month - 1]} {local.year}, {local:%H:%M}"
    body = "\n".join(f"    <p>{_text(p)}</p>" for p in paragraphs)
    return f"""<article class="article" itemscope itemtype="https://schema.org/NewsArticle">
  <header class="article-header">
    <p class="article-section">{_text(seed.section)}</p>
    <h1 class="article-title" itemprop="headline">{_text(title)}</h1>
    <p class="standfirst" itemprop="description">{_text(seed.standfirst)}</p>
    <div class="byline">
      <span class="author" itemprop="author">{_text(seed.source)}</span>
      <time itemprop="datePublished" datetime="{local.isoformat()}">{shown}</time>
    </div>
  </header>
  <div class="article-body" itemprop="articleBody">
{body}
  </div>
</article>"""


def _aside(origin: str) -> str:
    return f"""<aside class="related-articles" aria-label="Articles liés">
  <h2>À lire aussi</h2>
  <ul>
{_links(_RELATED, origin, "    ")}
  </ul>
</aside>"""


def _promo(seed: SeedArticle, origin: str) -> str:
    lines = list(seed.promo)
    link = lines.pop() if lines and len(lines[-1].split()) == 1 else None
    paras = "\n".join(f"  <p>{_text(line)}</p>" for line in lines)
    cta = f'\n  <a class="promo-cta" href="{origin}/news">{_text(link)}</a>' if link else ""
    return f"""<div class="promo-banner marketing" data-nosnippet>
{paras}{cta}
</div>"""


def _footer(origin: str, extra: str) -> str:
    return f"""<footer class="site-footer">
  <ul class="footer-links">
{_links(_FOOTER, origin, "    ")}
  </ul>
  <p class="copyright">{_text(FOOTER_TEXT)}</p>{extra}
</footer>"""


def article_page(
    seed: SeedArticle,
    url: str,
    *,
    paragraphs: Sequence[str] | None = None,
    title: str | None = None,
    extra_footer: str = "",
) -> str:
    """A realistic French news page for the seed; `extra_footer` is an HTML fragment.

    `paragraphs` and `title` replace the body and headline so that
    change-monitoring tests can serve an edited version of the same page.
    """
    origin = _origin(url)
    headline = seed.title if title is None else title
    body = seed.paragraphs if paragraphs is None else paragraphs
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="fr">',
            _head(seed, url, headline),
            '<body class="page-article">',
            _header(origin),
            '<main id="content">',
            _breadcrumbs(seed, origin),
            _article(seed, headline, body),
            _aside(origin),
            "</main>",
            _promo(seed, origin),
            _footer(origin, extra_footer),
            "</body>",
            "</html>",
            "",
        ]
    )


# ---------------------------------------------------------------------------
# RSS feed


def _item(title: str, link: str, description: str, published: datetime | None) -> str:
    stamp = format_datetime(published, usegmt=True) if published else ""
    date = f"\n      <pubDate>{stamp}</pubDate>" if published else ""
    return f"""    <item>
      <title>{_text(title)}</title>
      <link>{_text(link)}</link>
      <guid isPermaLink="true">{_text(link)}</guid>{date}
      <description>{_text(description)}</description>
    </item>"""


def rss_feed(
    seed: SeedArticle,
    *,
    feed_url: str,
    article_url: str,
    extra_items: Sequence[tuple[str, str, str]] = (),
) -> str:
    """RSS 2.0 with the seed as first item; extra_items are (title, link, description), undated."""
    items = [_item(seed.title, article_url, seed.standfirst, seed.published)]
    items += [_item(t, link, d, None) for t, link, d in extra_items]
    newest = format_datetime(seed.published, usegmt=True)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>{_text(seed.source)}</title>
    <link>{_text(_origin(article_url))}/</link>
    <description>{_text(seed.source)} : actualités économiques et financières</description>
    <language>fr</language>
    <lastBuildDate>{newest}</lastBuildDate>
    <atom:link href="{escape(feed_url)}" rel="self" type="application/rss+xml"/>
{chr(10).join(items)}
  </channel>
</rss>
"""
