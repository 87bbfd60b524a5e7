"""The fast HTML-to-text path computes exactly what html.parser-based text_of does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.parse import htmltext
from aggregator.parse.text import _slow_text_of, text_of

CASES = [
    "",
    "plain words",
    "a\n \nb",
    "a  b\u00a0\u00a0c",
    "<p>x</p>\n\n<p> y </p>",
    "&#10;a&#10;&#10;b",
    "a<br>b<br/>c",
    "<b>&am</b>p;",
    "x < y",
    "<p/>q",
    "  ",
    "<br>",
    "a\r\nb",
    "\u2028a",
    "<P>A</P><DIV>b",
    "submitted by <a href='/u/x'> /u/x</a> [link]",
    '<a title="a>b">t</a>',
    "<ul><li>one</li><li>two</li></ul>",
    "caf&eacute; &amp; &lt;p&gt;",
    '<a title=x"y>z</a>"q"',
    "<script>alert(1)</script>after",
    "<!-- c -->d",
    "</ p>e",
    "<p>para<br><br>still</p>",
    "<img src=x.png alt='a picture'>text",
    "<hr/>rule",
    "<a<p>>",
    "x <b y> <p>z</p>",
    '<p a="1" b=2>t</p>',
    "<P CLASS=x>T</P><BR/>u",
    "<p\x00>x</p>y",
    "<\u017fection>s</\u017fection>t",
    "a</br>b",
    '<a t="x><p>">q',
    "a<br> <br>b",
    "a<br><br>b",
    "<p> <br> </p>c",
    "a <br> \n <br><br> b",
    "<li> x </li> <li>y",
    '<a t="x><p>q',
    "<b>\u00a0</b>",
    "x<BR\tclear=all>y",
    "<h1>T</h1>\n<br>\n<p>b</p>",
]


@pytest.mark.parametrize("fragment", CASES)
def test_same_text_as_html_parser(fragment: str) -> None:
    assert text_of(fragment) == _slow_text_of(fragment)


def test_fast_path_taken_for_ordinary_markup() -> None:
    assert htmltext.fast_text("<p>Hello <b>world</b></p><p>again</p>") == "Hello world\n\nagain"
    assert htmltext.fast_text("<script>x</script>") is None  # raw text: html.parser


_ALPHABET = st.sampled_from(
    [
        "<",
        ">",
        "/",
        "=",
        '"',
        "'",
        "&",
        ";",
        "#",
        " ",
        "\n",
        "\t",
        "\xa0",
        "a",
        "b",
        "p",
        "br",
        "div",
        "li",
        "span",
        "amp",
        "lt",
        "x20",
        "é",
        "<p>",
        "</p>",
        "<br>",
        "<br/>",
        "<b>",
        "</b>",
        "<a href='u'>",
        "</a>",
        '<div class="c">',
        "</div>",
        "&amp;",
        "&#10;",
        "&nbsp;",
        "<li>",
        '<a title=x"y>',
        "<!--",
        "-->",
        "<script>",
        "</script>",
        "&am",
        "p;",
        "\r",
        "</ ",
        "<3",
        '="',
        "'>",
        "<p/>",
        "<hr>",
        "\u2028",
        "\ue000",
        "<td>",
        "<h1>",
        "&#x27;",
        "&quot;",
        "\x00",
        "</br>",
        "\u017f",
        "<BR>",
        "<P>",
        "\ue001",
    ]
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_same_text_on_generated_markup(fragment: str) -> None:
    assert text_of(fragment) == _slow_text_of(fragment)
