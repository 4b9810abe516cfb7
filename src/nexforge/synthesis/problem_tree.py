"""The problem-type tree queries are sampled from: the kit's tree plus types grown in the store.

A path is the tuple of node ids from the root to a node (the form the store counts).
Trees are immutable: growing one returns a new tree, so a slot planned earlier keeps
the tree it was planned on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from nexforge.architect.spec import ProblemType

TypePath = tuple[str, ...]
GROWN_KEY = "grown"
"""Key of a grown node's provenance (``{"seed": s, "slot": k}``) in its stored dict."""


@dataclass(frozen=True)
class GrownType:
    """A problem type added under ``parent_id`` while generating queries."""

    parent_id: str
    node: ProblemType
    seed: int | None = None
    slot: int | None = None

    def to_store(self) -> dict[str, Any]:
        return {**self.node.model_dump(), GROWN_KEY: {"seed": self.seed, "slot": self.slot}}


def grown_from_store(parent_id: str, stored: dict[str, Any]) -> GrownType | None:
    """A stored grown type; None for a dict that is not a problem type."""
    origin = stored.get(GROWN_KEY)
    if not isinstance(origin, dict):
        origin = {}
    try:
        node = ProblemType.model_validate({k: v for k, v in stored.items() if k != GROWN_KEY})
    except ValidationError:
        return None
    seed, slot = origin.get("seed"), origin.get("slot")
    return GrownType(
        parent_id,
        node,
        seed if isinstance(seed, int) else None,
        slot if isinstance(slot, int) else None,
    )


class ProblemTree:
    """Nodes by id, each with its path from the root, in depth-first order."""

    def __init__(self, root: ProblemType) -> None:
        self.root = root
        self._nodes: dict[str, ProblemType] = {}
        self._paths: dict[str, TypePath] = {}
        self._children: dict[str, list[str]] = {}
        self._add(root, ())

    def _add(self, node: ProblemType, parent: TypePath) -> None:
        path = (*parent, node.id)
        self._nodes[node.id] = node
        self._paths[node.id] = path
        self._children[node.id] = []
        if parent:
            self._children[parent[-1]].append(node.id)
        for child in node.children:
            self._add(child, path)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def with_type(self, grown: GrownType) -> ProblemTree:
        """This tree with ``grown.node`` as the last child of its parent.

        Raises KeyError for an unknown parent and ValueError for an id already in use.
        """
        if grown.parent_id not in self._nodes:
            raise KeyError(grown.parent_id)
        taken = [n.id for n in [grown.node, *_descendants(grown.node)] if n.id in self._nodes]
        if taken:
            raise ValueError(f"problem type id {taken[0]!r} is already in the tree")
        return ProblemTree(_graft(self.root, grown.parent_id, grown.node))

    def node(self, node_id: str) -> ProblemType:
        return self._nodes[node_id]

    def path(self, node_id: str) -> TypePath:
        return self._paths[node_id]

    def children(self, node_id: str) -> list[ProblemType]:
        return [self._nodes[c] for c in self._children[node_id]]

    def is_leaf(self, node_id: str) -> bool:
        return not self._children[node_id]

    def leaf_paths(self) -> list[TypePath]:
        """Every root-to-leaf path, depth first, children in order."""
        return [p for node_id, p in self._paths.items() if not self._children[node_id]]

    def labels(self, path: TypePath) -> list[str]:
        return [self._nodes[node_id].label for node_id in path]

    def leaves_under(self, node_id: str) -> list[ProblemType]:
        return self._nodes[node_id].leaves()

    def tools(self, path: TypePath) -> list[str]:
        """The tools of the leaves under the path's last node, each once, in order."""
        found = [t for leaf in self.leaves_under(path[-1]) for t in leaf.tools]
        return list(dict.fromkeys(found))

    def asked_by(self, node_id: str) -> list[str]:
        """The user types who bring the node's problems: those of its leaves, or ``[]``
        (anyone) when one of them is open to anyone."""
        found: list[str] = []
        for leaf in self.leaves_under(node_id):
            if not leaf.asked_by:
                return []
            found += [t for t in leaf.asked_by if t not in found]
        return found

    def contains_path(self, path: TypePath) -> bool:
        return bool(path) and path[-1] in self._paths and self._paths[path[-1]] == tuple(path)


def _descendants(node: ProblemType) -> list[ProblemType]:
    return [d for child in node.children for d in [child, *_descendants(child)]]


def _graft(node: ProblemType, parent_id: str, new: ProblemType) -> ProblemType:
    if node.id == parent_id:
        return node.model_copy(update={"children": [*node.children, new]})
    if not node.children:
        return node
    return node.model_copy(
        update={"children": [_graft(child, parent_id, new) for child in node.children]}
    )
