"""docs/nova.md: its generated blocks are what the code generates now.

The page holds two generated blocks (``<!-- BEGIN generated: WHAT -->`` ... ``<!-- END
generated -->``): Nova's support matrix with zcompute's columns, computed with the Nova
adapter's real ``IMPLEMENTED_NOVA_METHODS``, and the image-property table. Both are rewritten
by ``scripts/update-nova-doc``, which these tests load and run.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
from types import ModuleType

os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")

import pytest
from click.testing import CliRunner
from tests.conftest import REPO

from zcompute.arch import nova_matrix
from zcompute.cli import main

DOC = REPO / "docs" / "nova.md"
SCRIPT = REPO / "scripts" / "update-nova-doc"
REGENERATE = "`.venv/bin/python scripts/update-nova-doc`"

pytestmark = pytest.mark.filterwarnings("ignore::Warning")  # importing Nova: eventlet's, ...


def _script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("update_nova_doc", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _block(text: str, what: str) -> str:
    begin = f"<!-- BEGIN generated: {what} -->\n"
    return text[
        text.index(begin) + len(begin) : text.index("<!-- END generated -->", text.index(begin))
    ]


def test_the_generated_blocks_of_docs_nova_md_are_fresh() -> None:
    text = DOC.read_text()
    assert _script().regenerate(text) == text, f"docs/nova.md is stale: run {REGENERATE}"


def test_the_matrix_block_is_what_the_cli_prints() -> None:
    script = _script()
    with CliRunner().isolation(env={"ZCOMPUTE_CONFIG": "/nonexistent/zcompute.toml"}) as (
        out,
        _err,
        _both,
    ):
        code = main(["support-matrix", "--nova", "--format", "markdown"])
    assert code == 0
    assert _block(DOC.read_text(), script.MATRIX) == out.getvalue().decode(), (
        f"docs/nova.md is stale: run {REGENERATE}"
    )


def test_the_matrix_is_computed_with_the_adapters_methods() -> None:
    from zcompute.nova import IMPLEMENTED_NOVA_METHODS

    assert {"spawn", "destroy", "get_info", "snapshot"} <= IMPLEMENTED_NOVA_METHODS
    block = _block(DOC.read_text(), _script().MATRIX)
    assert "is not installed" not in block  # the no-adapter notice
    complete = nova_matrix(IMPLEMENTED_NOVA_METHODS).complete("s390x")
    assert complete > 0
    assert f"zcompute complete on s390x: {complete} of " in block


def test_the_property_table_block_is_the_functions() -> None:
    from zcompute.properties import image_property_table

    script = _script()
    table = image_property_table(script.PROPERTY_TABLE_ARCHES)
    assert _block(DOC.read_text(), script.PROPERTIES) == table


def test_regenerate_replaces_each_block_and_keeps_the_rest() -> None:
    script = _script()
    text = (
        "intro\n<!-- BEGIN generated: a -->\nold a\n<!-- END generated -->\nmiddle\n"
        "<!-- BEGIN generated: b -->\n<!-- END generated -->\nend\n"
    )
    fresh = script.regenerate(text, {"a": lambda: "new a\n", "b": lambda: "| b |\n"})
    assert fresh == (
        "intro\n<!-- BEGIN generated: a -->\nnew a\n<!-- END generated -->\nmiddle\n"
        "<!-- BEGIN generated: b -->\n| b |\n<!-- END generated -->\nend\n"
    )


def test_regenerate_refuses_missing_or_unknown_blocks() -> None:
    script = _script()
    with pytest.raises(SystemExit, match="expected one each"):
        script.regenerate("no blocks\n", {"a": lambda: ""})
    with pytest.raises(SystemExit, match="expected one each"):
        script.regenerate("<!-- BEGIN generated: c -->\n<!-- END generated -->\n", {"a": str})
