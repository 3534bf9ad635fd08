"""Missing values in tree ensembles compiled to ONNX.

scikit-learn's decision trees (1.3 and later) send a missing value (NaN) down a fixed side of every
split: the side chosen when the tree saw missing values in training, else the child that received
the most samples (`tree_.missing_go_to_left`). skl2onnx writes every split of a scikit-learn tree with
`nodes_missing_value_tracks_true = 0`, so in ONNX Runtime a NaN always takes the "false" (right)
branch of `x <= threshold`, and a row with a missing value gets another prediction.

`encode_missing_directions` copies each tree's directions into the converted graph: the trees of the
estimator are listed in the order skl2onnx converts them (pipeline steps, then `estimators_` in row
order), each `TreeEnsembleRegressor` / `TreeEnsembleClassifier` node takes the next trees, and its
attribute is rewritten only when the structure matches exactly (node counts and split features per
tree). Anything else is left alone, and the build's verification on rows with missing values decides.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Final

ENSEMBLE_OPS: Final = {"TreeEnsembleRegressor", "TreeEnsembleClassifier"}


def sklearn_trees(estimator: Any) -> list[Any]:
    """The `tree_` objects of every decision tree in the estimator, in conversion order."""
    found: list[Any] = []

    def visit(item: Any) -> None:
        tree = getattr(item, "tree_", None)
        if tree is not None and hasattr(tree, "node_count"):
            found.append(tree)
            return
        for _, step in getattr(item, "steps", None) or []:
            visit(step)
        for _, transformer, _ in getattr(item, "transformers_", None) or []:
            visit(transformer)
        members = getattr(item, "estimators_", None)
        if members is not None:
            for member in getattr(members, "flat", members):
                visit(member)

    visit(estimator)
    return found


def _matches(tree: Any, nodes: list[int], features: list[int], leaf: list[bool]) -> bool:
    if tree.node_count != len(nodes) or sorted(nodes) != list(range(tree.node_count)):
        return False
    for node_id, feature, is_leaf in zip(nodes, features, leaf, strict=True):
        split = tree.children_left[node_id] != tree.children_right[node_id]
        if split == is_leaf or (split and int(tree.feature[node_id]) != feature):
            return False
    return True


def encode_missing_directions(model: Any, estimator: Any) -> int:
    """Rewrite `nodes_missing_value_tracks_true` of `model`'s tree ensembles from `estimator`'s
    trees; returns how many ensemble nodes were rewritten."""
    from onnx import helper

    trees = sklearn_trees(estimator)
    if not trees or not all(hasattr(t, "missing_go_to_left") for t in trees):
        return 0
    rewritten = 0
    position = 0
    for node in model.graph.node:
        if node.op_type not in ENSEMBLE_OPS:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        by_tree: dict[int, list[int]] = defaultdict(list)
        for index, tree_id in enumerate(attrs.get("nodes_treeids", [])):
            by_tree[int(tree_id)].append(index)
        order = sorted(by_tree)
        chunk = trees[position : position + len(order)]
        position += len(order)
        if len(chunk) != len(order) or order != list(range(len(order))):
            continue
        node_ids = attrs["nodes_nodeids"]
        features = attrs["nodes_featureids"]
        modes = [m.decode() if isinstance(m, bytes) else m for m in attrs["nodes_modes"]]
        tracks = [0] * len(node_ids)
        ok = True
        for tree, tree_id in zip(chunk, order, strict=True):
            indices = by_tree[tree_id]
            ids = [int(node_ids[i]) for i in indices]
            if not _matches(
                tree, ids, [int(features[i]) for i in indices], [modes[i] == "LEAF" for i in indices]
            ):
                ok = False
                break
            for i, node_id in zip(indices, ids, strict=True):
                if modes[i] != "LEAF":
                    tracks[i] = int(tree.missing_go_to_left[node_id])
        if not ok:
            continue
        kept = [a for a in node.attribute if a.name != "nodes_missing_value_tracks_true"]
        del node.attribute[:]
        node.attribute.extend(kept)
        node.attribute.append(helper.make_attribute("nodes_missing_value_tracks_true", tracks))
        rewritten += 1
    return rewritten
