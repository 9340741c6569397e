"""Reading a configuration file: YAML that can neither drop a key silently nor explode.

``yaml.safe_load`` constructs no Python objects, but it keeps only the last of two equal keys
(a sample written twice under ``samples`` silently disappears) and expands aliases without a
bound (a "billion laughs" document of a few lines becomes 10**9 values, and validating it
runs for minutes). :func:`read_yaml` reads with PyYAML's safe loader (libyaml's where
available) and refuses, as a :class:`~hepml.exceptions.ConfigError` naming the file:

* anything but a regular file (a FIFO would block the read forever) and files larger than
  :data:`MAX_CONFIG_BYTES`, before reading;
* text that is not UTF-8 or not YAML, and a document that is not a mapping;
* a document whose aliases (``*name``) add more than :data:`MAX_ALIAS_EXPANSION` values, or
  that refers to itself, before anything is constructed;
* a key that appears twice in one mapping, at any depth, with both line numbers. The merge
  key ``<<: *base`` still works: keys written beside it override the merged ones, as YAML
  intends.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from hepml.exceptions import ConfigError

__all__ = ["MAX_ALIAS_EXPANSION", "MAX_CONFIG_BYTES", "read_yaml"]

MAX_CONFIG_BYTES = 10 * 1024 * 1024  # the demo config is 8 kB
MAX_ALIAS_EXPANSION = 100_000  # values added by aliases; a real config adds a few dozen
_MERGE_TAG = "tag:yaml.org,2002:merge"
_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ConfigLoader(_BASE_LOADER):
    """The safe loader, refusing a key written twice in one mapping."""

    source = "config"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = seen.setdefault(key, key_node)
            except TypeError:  # an unhashable (complex) key: YAML's own error follows
                continue
            if earlier is not key_node:
                msg = (
                    f"{self.source}: the key {key!r} appears twice in the same mapping "
                    f"({_position(earlier)} and {_position(key_node)}); YAML would keep only "
                    "the last one and silently drop the first: remove or rename one of them"
                )
                raise ConfigError(msg)
        return super().construct_mapping(node, deep=deep)


def _position(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}"


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in the YAML file ``path``, checked as the module docstring says."""
    text = _read_text(path)
    loader = _ConfigLoader(text)
    loader.source = f"configuration file '{path}'"
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_alias_expansion(node, path)
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as err:
        msg = f"configuration file '{path}' is not valid YAML: {err}"
        raise ConfigError(msg) from err
    except RecursionError as err:
        msg = f"configuration file '{path}' is nested too deeply"
        raise ConfigError(msg) from err
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        msg = f"configuration file '{path}' must hold a mapping of keys, not {type(data).__name__}"
        raise ConfigError(msg)
    return data


def _read_text(path: Path) -> str:
    """The file's text; never blocks (a FIFO is refused, not read) nor reads a huge file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as err:
        msg = f"configuration file '{path}' does not exist"
        raise ConfigError(msg) from err
    except OSError as err:
        msg = f"cannot read configuration file '{path}': {err}"
        raise ConfigError(msg) from err
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            msg = f"configuration file '{path}' is not a regular file (a directory, FIFO or device)"
            raise ConfigError(msg)
        if info.st_size > MAX_CONFIG_BYTES:
            msg = (
                f"configuration file '{path}' is {info.st_size / 1e6:.1f} MB; a configuration "
                f"is a few kB and the limit is {MAX_CONFIG_BYTES / 1e6:.1f} MB"
            )
            raise ConfigError(msg)
        try:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
        except OSError as err:
            msg = f"cannot read configuration file '{path}': {err}"
            raise ConfigError(msg) from err
    if len(raw) > MAX_CONFIG_BYTES:  # grew since fstat
        msg = f"configuration file '{path}' is larger than {MAX_CONFIG_BYTES / 1e6:.1f} MB"
        raise ConfigError(msg)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        msg = f"configuration file '{path}' is not UTF-8 text ({err.reason} at byte {err.start})"
        raise ConfigError(msg) from err


def _check_alias_expansion(root: yaml.Node, path: Path) -> None:
    """Refuse a node graph whose aliases expand it by more than MAX_ALIAS_EXPANSION values.

    The composed graph shares a node wherever an alias refers to it, so it is small; the
    expanded size (each node counted once per reference) is computed on the graph, memoised
    and without recursion, so neither the count nor a self-reference can hang or crash.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            open_nodes.discard(key)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            msg = f"configuration file '{path}' refers to itself through a YAML alias"
            raise ConfigError(msg)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    added = sizes[id(root)] - len(sizes)
    if added > MAX_ALIAS_EXPANSION:
        msg = (
            f"configuration file '{path}': its YAML aliases (*name) expand to {added:.3g} "
            f"more values, over the limit of {MAX_ALIAS_EXPANSION}; a configuration never "
            "needs that many (is it an alias bomb?): write the values out instead"
        )
        raise ConfigError(msg)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
