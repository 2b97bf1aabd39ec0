"""Reading a YAML file a person wrote, safely: whatever the file holds, the answer is the
parsed data or one located ``InputError`` — never a traceback, a hang or a memory blow-up.

PyYAML's safe loader already refuses arbitrary tags, but it composes nesting recursively
(a few thousand ``[`` end in RecursionError) and expands anchors and aliases without limit
(nine nested aliases of nine items each are 387 million values). So the file is bounded in
size, its nesting is measured on the token stream (which is not recursive) before composing,
and the composed node graph is walked once with a budget before anything is built from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import InputError

MAX_BYTES = 1 << 20  # a campaign file is a few kilobytes; a megabyte is a wrong file
MAX_DEPTH = 32
MAX_VALUES = 20_000  # scalars, lists and mappings, counted with aliases expanded

_OPENING = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSING = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def read_text_file(path: Path, *, what: str = "file", limit: int = MAX_BYTES) -> str:
    """The file's text (UTF-8, a byte-order mark dropped), or an InputError saying why not."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)
    except IsADirectoryError:
        raise InputError(f"is a folder (give the {what}'s path)", path=str(path)) from None
    except FileNotFoundError:
        raise InputError("no such file (check the path)", path=str(path)) from None
    except OSError as error:
        reason = f"cannot read the {what}: {error.strerror or error} (check its permissions)"
        raise InputError(reason, path=str(path)) from None
    if len(raw) > limit:
        reason = f"larger than {limit // 1024} KiB (is it the right file? a {what} is a few KiB)"
        raise InputError(reason, path=str(path))
    return decode_utf8(raw, str(path))


def decode_utf8(raw: bytes, source: str) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        reason = f"not UTF-8 text (byte 0x{raw[error.start]:02x}; save the file as UTF-8)"
        raise InputError(reason, path=source, line=line) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InputError("contains a NUL byte (is it a text file?)", path=source, line=line)
    return text


def load_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The document's node (for line numbers) and its data, built with the safe loader."""
    try:
        _check_nesting(text, source)
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, None
            _check_expansion(node, source)
            return node, loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        if "could not determine a constructor" in problem:
            tag = problem.rsplit(" ", 1)[-1]
            reason = f"the YAML tag {tag} is not allowed (write a plain value)"
        else:
            reason = f"not valid YAML: {problem} (check the indentation and quotes)"
        raise InputError(reason, path=source, line=line) from None


def _check_nesting(text: str, source: str) -> None:
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, _OPENING):
            depth += 1
            if depth > MAX_DEPTH:
                reason = f"nested more than {MAX_DEPTH} levels deep (a campaign needs a few)"
                raise InputError(reason, path=source, line=token.start_mark.line + 1)
        elif isinstance(token, _CLOSING):
            depth -= 1


def _check_expansion(root: yaml.Node, source: str) -> None:
    """Count values as a consumer of the data would see them: an alias counts its whole
    target again. A cycle (``&a [*a]``) or an alias bomb runs out of budget."""
    stack: list[yaml.Node] = [root]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            reason = (
                f"more than {MAX_VALUES} values once anchors and aliases are expanded "
                "(write the values out, or remove the aliases)"
            )
            raise InputError(reason, path=source, line=node.start_mark.line + 1)
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
