"""The ``bfcl-eval`` package (BFCL v4 data, checker, multi-turn backends), imported lazily.

Only the parts an offline function-calling evaluation needs are imported: data loading
(``bfcl_eval.utils``), the AST and multi-turn checkers, the multi-turn backends, and the
official tool compiler (``model_handler.utils.convert_to_tool``). The memory categories'
backends need ``overrides`` (and ``rank_bm25`` for ``memory_kv``); without them those
categories are skipped. Two things need care:

- ``bfcl_eval`` creates folders (``result/``, ``score/``, ``.file_locks/``) under
  ``BFCL_PROJECT_ROOT`` when first imported; the root is pointed at the evaluation's
  output folder for that import, so nothing is written elsewhere.
- its AST checker imports ``constants.model_config``, which imports a handler for every
  provider SDK (anthropic, mistralai, google-genai, boto3, ...) only to build a registry of
  model names. The checker reads one field of one entry (``underscore_to_dot``), so a
  registry holding NexForge's entry is put in place first and the SDKs are never needed.
"""

from __future__ import annotations

import copy
import importlib
import importlib.metadata
import logging
import os
import sys
import threading
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexforge.core.tools import ToolSpec
from nexforge.evaluation.results import EvalError

log = logging.getLogger(__name__)

BFCL_VERSION = "2026.3.23"
INSTALL_HINT = (
    f"pip install --no-deps bfcl-eval=={BFCL_VERSION} && pip install tree_sitter==0.21.3 "
    "tree-sitter-java==0.21.0 tree-sitter-javascript==0.21.4 mpmath==1.3.0 tenacity filelock "
    "overrides rank_bm25==0.2.2"
)
CHECKER_MODEL = "nexforge-FC"
"""NexForge's key in the checker's model registry: a function-calling model whose tool names
have "." replaced by "_" (as the official OpenAI chat-completions FC handler sends them).
It has no "_": the checker turns "_" into "/" before looking a name up."""

_MODEL_CONFIG = "bfcl_eval.constants.model_config"
_SKIPPED_BACKENDS = ("WebSearchAPI", "MemoryAPI_vector")
"""Backends of the categories NexForge skips (see ``bfcl.SKIPPED``): never imported."""
_OPTIONAL_BACKENDS = ("MemoryAPI_kv", "MemoryAPI_rec_sum")
"""Backends whose categories are skipped when their dependencies are not installed."""


@dataclass(frozen=True)
class _CheckerModelConfig:
    """The one field of bfcl_eval's ``ModelConfig`` that its checker reads."""

    underscore_to_dot: bool = True


@dataclass(frozen=True)
class BfclCase:
    """One BFCL entry: what the model is shown and what the checker compares against."""

    id: str
    category: str
    prompt: dict[str, Any]
    """The entry as the model sees it (a language hint added to each function doc)."""
    checker_prompt: dict[str, Any]
    """The entry as the official evaluation passes it to the checker (no hints)."""
    ground_truth: Any
    """The possible answers (AST), the per-turn calls (multi-turn), the accepted answers
    (memory), or None (relevance)."""


class BfclPackage:
    """The imported bfcl_eval modules and the few calls NexForge makes into them."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.utils: Any = importlib.import_module("bfcl_eval.utils")
        self.enums: Any = importlib.import_module("bfcl_eval.constants.enums")
        self.type_mappings: Any = importlib.import_module("bfcl_eval.constants.type_mappings")
        self.prompts: Any = importlib.import_module("bfcl_eval.constants.default_prompts")
        self.backends: Any = importlib.import_module(
            "bfcl_eval.constants.executable_backend_config"
        )
        self.handler_utils: Any = importlib.import_module("bfcl_eval.model_handler.utils")
        self.ast_checker: Any = importlib.import_module(
            "bfcl_eval.eval_checker.ast_eval.ast_checker"
        )
        self.multi_turn_checker: Any = importlib.import_module(
            "bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker"
        )
        self.multi_turn_utils: Any = importlib.import_module(
            "bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils"
        )
        self.agentic_checker: Any = importlib.import_module(
            "bfcl_eval.eval_checker.agentic_eval.agentic_checker"
        )
        # The backends import their own dependencies (mpmath...) only when first used, in
        # the middle of a case: importing them now turns a missing one into a clear error.
        self.missing_backends: dict[str, str] = {}
        """Optional backends (the memory ones) that cannot be imported, and what is missing."""
        for class_name, module in self.backends.CLASS_FILE_PATH_MAPPING.items():
            if class_name in _OPTIONAL_BACKENDS:
                try:
                    importlib.import_module(module)
                except ImportError as exc:
                    self.missing_backends[class_name] = exc.name or str(exc)
            elif not class_name.startswith(_SKIPPED_BACKENDS):
                importlib.import_module(module)

    def load_cases(self, category: str) -> list[BfclCase]:
        """Every scored entry of a category, in BFCL's order (by index)."""
        utils = self.utils
        shown = {e["id"]: e for e in utils.load_dataset_entry(category)}
        raw = utils.load_dataset_entry(
            category, include_prereq=False, include_language_specific_hint=False
        )
        answers: list[Any] = [None] * len(raw)
        if not utils.is_relevance_or_irrelevance(category):
            # Aligned by position, as bfcl_eval's runner does (memory answers carry other ids).
            answers = [e["ground_truth"] for e in utils.load_ground_truth_entry(category)]
            if len(answers) != len(raw):
                raise EvalError(
                    f"bfcl-eval data: {len(raw)} {category} entries but {len(answers)} answers"
                )
        cases = [
            BfclCase(
                id=entry["id"],
                category=category,
                prompt=shown[entry["id"]],
                checker_prompt=entry,
                ground_truth=answer,
            )
            for entry, answer in zip(raw, answers, strict=True)
        ]
        return sorted(cases, key=lambda case: utils.sort_key({"id": case.id}))

    def prerequisites(self, category: str) -> list[dict[str, Any]]:
        """A memory category's prerequisite conversations, in the order they must run."""
        entries = self.utils.load_dataset_entry(category, include_prereq=True)
        return sorted(
            (e for e in entries if self.utils.is_memory_prereq(e["id"])), key=self.utils.sort_key
        )

    def tool_specs(self, functions: list[dict[str, Any]]) -> list[ToolSpec]:
        """BFCL function docs -> tools, by the official OpenAI chat-completions FC compiler
        ("." in names -> "_", BFCL types -> JSON Schema: dict->object, float->number...)."""
        compiled = self.handler_utils.convert_to_tool(
            copy.deepcopy(functions),
            self.type_mappings.GORILLA_TO_OPENAPI,
            self.enums.ModelStyle.OPENAI_COMPLETIONS,
        )
        return [
            ToolSpec(
                name=tool["function"]["name"],
                description=tool["function"].get("description", ""),
                parameters=tool["function"]["parameters"],
            )
            for tool in compiled
        ]


_lock = threading.Lock()
_package: BfclPackage | None = None


def category_mapping() -> Any:
    """bfcl_eval's category and group names (an import without side effects)."""
    _installed_version()
    return importlib.import_module("bfcl_eval.constants.category_mapping")


def load_bfcl(work_dir: Path) -> BfclPackage:
    """Import bfcl_eval once per process; its folders go under ``work_dir`` (on that first
    import only: the package fixes them at import time)."""
    global _package
    with _lock:
        if _package is None:
            _package = _import(work_dir)
        return _package


def _installed_version() -> str:
    try:
        return importlib.metadata.version("bfcl-eval")
    except importlib.metadata.PackageNotFoundError:
        raise EvalError(f"BFCL needs the bfcl-eval package: {INSTALL_HINT}") from None


def _import(work_dir: Path) -> BfclPackage:
    version = _installed_version()
    if version != BFCL_VERSION:
        log.warning("bfcl-eval %s is installed; NexForge is tested with %s", version, BFCL_VERSION)
    _install_checker_registry()
    previous = os.environ.get("BFCL_PROJECT_ROOT")
    work_dir.mkdir(parents=True, exist_ok=True)
    os.environ["BFCL_PROJECT_ROOT"] = str(work_dir.resolve())
    try:
        return BfclPackage(version)
    except ImportError as exc:
        raise EvalError(
            f"bfcl-eval {version} is installed but needs {exc.name or exc}: {INSTALL_HINT}"
        ) from exc
    finally:
        if previous is None:
            del os.environ["BFCL_PROJECT_ROOT"]
        else:
            os.environ["BFCL_PROJECT_ROOT"] = previous


def _install_checker_registry() -> None:
    """Make ``MODEL_CONFIG_MAPPING[CHECKER_MODEL]`` available to the AST checker without
    importing every provider SDK (see the module docstring)."""
    module = sys.modules.get(_MODEL_CONFIG)
    if module is None:
        module = types.ModuleType(_MODEL_CONFIG, "NexForge's stand-in for the model registry.")
        module.MODEL_CONFIG_MAPPING = {}  # type: ignore[attr-defined]
        sys.modules[_MODEL_CONFIG] = module
    module.MODEL_CONFIG_MAPPING.setdefault(CHECKER_MODEL, _CheckerModelConfig())
