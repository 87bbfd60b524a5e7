"""feeds.yaml problems as a person fixes them: file:line, the key, what is wrong, a hint.

pydantic's validation errors are located in the YAML tree (ruamel keeps each node's
line), unknown keys get a "did you mean" from the model's own field names, and an
``alerts:`` entry is reported without pydantic's union tag.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from aggregator.config.alerts import CHANNEL_MODELS, unknown_kind_message
from aggregator.exceptions import ConfigError

__all__ = ["config_error", "located", "suggest"]


def _line_of(tree: Any, loc: Sequence[Any]) -> int | None:
    """1-based line of the deepest node of `loc` that exists in the YAML tree."""
    node, line = tree, None
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, Mapping) and part in node:
                line = lc.key(part)[0] + 1 if lc else line
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                line = lc.item(part)[0] + 1 if lc else line
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line


def _dotted(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def located(where: str, tree: Any, loc: Sequence[Any], msg: str, hint: str | None) -> ConfigError:
    line = _line_of(tree, loc)
    key = _dotted(loc)
    text = f"{where}:{line or '?'}: {key}: {msg}" if key else f"{where}:{line or '?'}: {msg}"
    return ConfigError(text, path=where, line=line, key=key, hint=hint)


def config_error(err: ValidationError, where: str, tree: Any, root: type[BaseModel]) -> ConfigError:
    """Every validation problem, each located (file:line, key) and explained with a hint.

    One problem is one error as before; several are listed one per line, so a
    file with three mistakes is fixed in one edit, not three runs.
    """
    problems = [_problem(e, where, tree, root) for e in _merge_unions(err.errors())]
    if len(problems) == 1:
        return problems[0]
    lines = [f"{where}: {len(problems)} problems"]
    for p in problems:
        lines.append(f"  {p.message}")
        if p.hint:
            lines.append(f"    hint: {p.hint}")
    first = problems[0]
    return ConfigError(
        "\n".join(lines),
        path=where,
        line=first.line,
        key=first.key,
        hint="fix each line above, then run again",
    )


_TAG = re.compile(r"^(literal\[.*\]|float|int|str|bool|none|(list|dict|set|tuple)\[.*\])$")
_TAG_WORDS = {
    "float": "a number",
    "int": "a whole number",
    "str": "a string",
    "bool": "true or false",
    "none": "nothing",
}


def _merge_unions(errors: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One problem per key for a union (`threshold: auto | number`), not one per member.

    pydantic reports a value that fits no member of a union once per member, each under
    the member's tag (`threshold.literal['auto']`, `threshold.float`); a person wants
    "expected 'auto' or a number, got 'high'" at `threshold`.
    """
    out: list[Mapping[str, Any]] = []
    i = 0
    while i < len(errors):
        j = i
        head = errors[i]["loc"][:-1]
        while (
            j < len(errors)
            and errors[j]["loc"][:-1] == head
            and isinstance(errors[j]["loc"][-1], str)
            and _TAG.match(errors[j]["loc"][-1])
            and errors[j].get("input") == errors[i].get("input")
        ):
            j += 1
        if j - i >= 2:
            wanted = " or ".join(dict.fromkeys(_tag_word(e["loc"][-1]) for e in errors[i:j]))
            got = errors[i].get("input")
            out.append({"type": "union", "loc": head, "msg": f"expected {wanted}, got {got!r}"})
            i = j
        else:
            out.append(errors[i])
            i += 1
    return out


def _tag_word(tag: str) -> str:
    if tag.startswith("literal["):
        return tag.removeprefix("literal[").removesuffix("]").replace(",", " or")
    if "[" in tag:
        return "a list" if tag.startswith(("list", "set", "tuple")) else "a mapping"
    return _TAG_WORDS.get(tag, tag)


def _problem(error: Mapping[str, Any], where: str, tree: Any, root: type[BaseModel]) -> ConfigError:
    loc = [p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
    if loc[:1] == ["alerts"] and len(loc) >= 2:
        return _alert_error(error, loc, where, tree)
    if error["type"] == "extra_forbidden":
        return _unknown_key(where, tree, loc, root)
    msg = error["msg"].removeprefix("Value error, ")
    return located(where, tree, loc, msg, _expected_hint(error, loc))


def _alert_error(error: Mapping[str, Any], loc: list[Any], where: str, tree: Any) -> ConfigError:
    """A problem in one ``alerts:`` entry, located in the entry (without pydantic's tag)."""
    index = loc[1]
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        entry = error.get("input")
        kind = entry.get("kind") if isinstance(entry, Mapping) else None
        return located(where, tree, ("alerts", index, "kind"), unknown_kind_message(kind), None)
    tag = loc[2] if len(loc) > 2 and loc[2] in CHANNEL_MODELS else None
    inner = loc[3:] if tag else loc[2:]
    loc = ["alerts", index, *inner]
    if error["type"] == "extra_forbidden" and tag:
        allowed = _allowed_keys(inner[:-1], CHANNEL_MODELS[tag])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else "see the alert channel keys in README.md"
        return located(where, tree, loc, f"unknown key {loc[-1]!r}", hint)
    if error["type"] == "model_attributes_type":  # pydantic's wording names Python objects
        return located(where, tree, loc, "Input should be a valid dictionary", None)
    msg = error["msg"].removeprefix("Value error, ")
    return located(where, tree, loc, msg, _expected_hint(error))


def _expected_hint(error: Mapping[str, Any], loc: Sequence[Any] = ()) -> str | None:
    kind = error["type"]
    if kind == "string_pattern_mismatch":
        return "names use lower-case letters, digits and dashes, e.g. le-monde-international"
    if kind == "missing":
        return "add this key"
    if kind == "list_type" and isinstance(error.get("input"), str):
        return f"write a list: [{error['input']}]"
    if loc and loc[-1] == "interval" and "at least 30s" in str(error.get("msg")):
        return "write e.g. interval: 15m"
    return None


def _unknown_key(where: str, tree: Any, loc: list[Any], root: type[BaseModel]) -> ConfigError:
    key = str(loc[-1])
    allowed = _allowed_keys(loc[:-1], root)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = (
        f"did you mean {close[0]!r}?"
        if close
        else (f"expected one of: {', '.join(sorted(allowed))}" if allowed else None)
    )
    return located(where, tree, loc, f"unknown key {key!r}", hint)


def _allowed_keys(parent: Sequence[Any], root: type[BaseModel]) -> list[str]:
    """Field names of the model at `parent` (a loc without the unknown key), from `root`."""
    model: Any = root
    for part in parent:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _model_of(field.annotation)
        if model is None:
            return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def suggest(name: str, choices: set[str]) -> str | None:
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None
