"""docs/architecture.md names every module of the layer, so a newcomer finds any of them there."""

from pathlib import Path

from tests.support.template import REPO_ROOT

LAYER = REPO_ROOT / "shared" / "teamledger"
DOC = REPO_ROOT / "docs" / "architecture.md"


def _modules() -> list[Path]:
    return sorted(p.relative_to(LAYER) for p in LAYER.rglob("*.py")
                  if p.name != "__init__.py" or p.parent.name == "store")


def _listed_modules(layers: str) -> set[str]:
    """The files of the layer's tree in the Layers block: `  http/` opens a package, and the
    names indented under it are its modules."""
    tree = layers[layers.index("shared/teamledger/"):]
    tree = tree[:tree.index("```")]
    listed, package = set(), ""
    for line in tree.splitlines()[1:]:
        name = line.strip().split(" ")[0] if line.strip() else ""
        indent = len(line) - len(line.lstrip(" "))
        if not name or indent not in (2, 4):
            continue
        if indent == 2:
            package = name if name.endswith("/") else ""
            if not package:
                listed.add(name)
        elif package:
            listed.add(package + name)
    return listed


def test_every_module_of_the_layer_is_in_the_architecture_page():
    # Given the Layers section of docs/architecture.md
    text = DOC.read_text()
    layers = text[text.index("## Layers"):text.index("## Request path")]
    # Then each module of shared/teamledger is listed there
    listed = _listed_modules(layers)
    missing = [m.as_posix() for m in _modules() if m.as_posix() not in listed]
    assert missing == [], f"add these to docs/architecture.md's Layers: {missing}"


def test_every_function_is_in_the_route_map():
    # Given the Route map of docs/architecture.md
    text = DOC.read_text()
    route_map = text[text.index("## Route map"):text.index("## Request path")]
    # Then each function of functions/ has its row there
    functions = sorted(p.parent.name for p in (REPO_ROOT / "functions").glob("*/app.py"))
    missing = [f for f in functions if f"`{f}`" not in route_map]
    assert missing == [], f"add these to docs/architecture.md's Route map: {missing}"


def test_the_docs_stand_on_their_own():
    # No page of docs/ points outside the repository (the contract lives in docs/api.md)
    for page in (REPO_ROOT / "docs").glob("*.md"):
        text = page.read_text()
        for outside in ("../shared", "API.md", "DESIGN.md", "STYLE.md"):
            assert outside not in text.replace("docs/api.md", ""), (page.name, outside)
