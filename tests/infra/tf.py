"""Read infra/terraform with python-hcl2, whichever flavour of the ``hcl2`` module is installed.

Two distributions install a module called ``hcl2``: python-hcl2 (this project's dev extra) and
checkov's fork bc-python-hcl2. They differ in output: the fork wraps every attribute value in a
one-element list; recent python-hcl2 keeps the quotes of string literals and labels and marks
blocks with ``__is_block__``. ``load`` normalises both to plain values: blocks are lists of
dicts, attributes are values, strings carry no quotes, and bookkeeping keys are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "infra" / "terraform"
MODULES = TERRAFORM / "modules"
ENVIRONMENTS = TERRAFORM / "environments"


@cache
def _flavour() -> tuple[bool, bool]:
    """(wraps attribute values in lists, keeps the quotes of string literals)."""
    probe = hcl2.loads('a = "b"\n')
    value = probe["a"]
    wrapped = isinstance(value, list)
    if wrapped:
        value = value[0]
    return wrapped, value == '"b"'


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"')
    return text


def _normalise(node: Any, wrapped: bool, quoted: bool) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key.startswith("__") and key.endswith("__"):
                continue
            if quoted:
                key = _unquote(key)
            if wrapped and isinstance(value, list) and len(value) == 1 \
                    and not isinstance(value[0], dict):
                value = value[0]  # the fork wraps attribute values, never blocks
            out[key] = _normalise(value, wrapped, quoted)
        return out
    if isinstance(node, list):
        return [_normalise(item, wrapped, quoted) for item in node]
    if isinstance(node, str):
        if quoted:
            node = _unquote(node)
        # The fork renders a template holding quoted strings as ${"...${x["k"]}..."}.
        template = re.fullmatch(r'\$\{"(.*)"\}', node, re.S)
        return template.group(1) if template else node
    return node


@cache
def load(path: Path) -> dict[str, Any]:
    """One .tf file, parsed and normalised."""
    with path.open(encoding="utf-8") as handle:
        data = hcl2.load(handle)
    return _normalise(data, *_flavour())


def tf_files() -> list[Path]:
    return sorted(TERRAFORM.rglob("*.tf"))


def blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The nested blocks ``name`` of a body (an object attribute counts as one block)."""
    value = body.get(name, [])
    if isinstance(value, dict):
        return [value]
    return [item for item in value if isinstance(item, dict)]


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    found = blocks(body, name)
    assert len(found) == 1, f"expected one {name!r} block, found {len(found)}"
    return found[0]


def dynamic_blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The bodies of the ``dynamic "<name>"`` blocks of a body."""
    found: list[dict[str, Any]] = []
    for dynamic in blocks(body, "dynamic"):
        value = dynamic.get(name, [])
        found += [value] if isinstance(value, dict) else [v for v in value if isinstance(v, dict)]
    return found


def dynamic_contents(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The ``content`` of the ``dynamic "<name>"`` blocks of a body."""
    return [content for dynamic in dynamic_blocks(body, name)
            for content in blocks(dynamic, "content")]


def mapping(value: Any) -> dict[str, Any]:
    """An object attribute (``{...}``); the fork returns it as a one-element list."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return value[0]
    assert isinstance(value, dict), f"expected an object, got {value!r}"
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def compact(text: Any) -> str:
    """An expression without whitespace, for comparisons across parser flavours."""
    return re.sub(r"\s+", "", str(text))


@dataclass(frozen=True)
class Block:
    """A resource or data source: its module folder, type, name and body."""

    folder: Path
    kind: str  # "resource" or "data"
    type: str
    name: str
    body: dict[str, Any]

    @property
    def module(self) -> str:
        return self.folder.name

    @property
    def address(self) -> str:
        prefix = "data." if self.kind == "data" else ""
        return f"{self.module}:{prefix}{self.type}.{self.name}"


def _entries(kind: str) -> Iterator[Block]:
    for path in tf_files():
        for entry in load(path).get(kind, []):
            for type_, named in entry.items():
                for name, body in named.items():
                    yield Block(path.parent, kind, type_, name, body)


def resources(type_: str | None = None, module: str | None = None) -> list[Block]:
    return [r for r in _entries("resource")
            if (type_ is None or r.type == type_) and (module is None or r.module == module)]


def data_sources(type_: str | None = None, module: str | None = None) -> list[Block]:
    return [d for d in _entries("data")
            if (type_ is None or d.type == type_) and (module is None or d.module == module)]


def resource(type_: str, name: str, module: str) -> Block:
    found = [r for r in resources(type_, module) if r.name == name]
    assert len(found) == 1, f"{module}: expected one {type_}.{name}, found {len(found)}"
    return found[0]


def data_source(type_: str, name: str, module: str) -> Block:
    found = [d for d in data_sources(type_, module) if d.name == name]
    assert len(found) == 1, f"{module}: expected one data.{type_}.{name}, found {len(found)}"
    return found[0]


def folder_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.tf"))


def locals_of(folder: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in folder_files(folder):
        for entry in load(path).get("locals", []):
            merged.update(entry)
    return merged


def variables_of(folder: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in folder_files(folder):
        for entry in load(path).get("variable", []):
            found.update(entry)
    return found


def outputs_of(folder: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in folder_files(folder):
        for entry in load(path).get("output", []):
            found.update(entry)
    return found


def module_calls(folder: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in folder_files(folder):
        for entry in load(path).get("module", []):
            found.update(entry)
    return found


_FILE_CALL = re.compile(r'file\(\s*"([^"]+)"\s*\)')


def file_paths(expression: str) -> list[str]:
    """The literal paths of the ``file("...")`` calls in an expression."""
    return _FILE_CALL.findall(expression)


def resolve(folder: Path, path_expression: str) -> Path:
    """A Terraform path (``${path.module}/...``) as seen from a module folder."""
    text = path_expression.replace("${path.module}", str(folder)) \
                          .replace("${path.root}", str(folder))
    assert "${" not in text, f"unresolved interpolation in {path_expression!r}"
    return Path(text).resolve()
