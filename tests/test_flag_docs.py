"""The generated flag tables (docs/flags.md, docs/methods/*.md) equal what the parsers say now."""
import pytest

from neuralkg_distil.cli import flag_docs
from neuralkg_distil.methods.registry import registered_methods


@pytest.fixture(scope="module")
def files():
    return flag_docs.generated()


def test_checked_in_flag_tables_are_current(files):
    assert not flag_docs.stale(files), "stale flag tables: run neuralkg-distil flags --write"


def test_every_registered_method_has_a_page_with_its_flags(files):
    for method in registered_methods():
        page = files[flag_docs.DOCS / "methods" / f"{method.name}.md"]
        assert "## Worked example" in page and all(f"`--{d}`" in page for d in method.flags), method.name
    assert "`--dims`" in files[flag_docs.DOCS / "methods" / "IterDE.md"]  # its sub-command's flags too
    assert "| `--alpha` | `0.5` |" in files[flag_docs.DOCS / "flags.md"]


def test_a_page_without_markers_is_a_one_line_error(tmp_path):
    from neuralkg_distil.errors import ConfigError

    with pytest.raises(ConfigError, match="no .* markers"):
        flag_docs.with_block("# page\n", "table", tmp_path / "page.md")
