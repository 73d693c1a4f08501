"""The layer catalog: declarations, access rules, and the layering rule."""

from __future__ import annotations

import ast
from pathlib import Path

from layers.access import ADMIN, PUBLIC, Principal
from layers.catalog import BlockLayer, EntityLayer, default_catalog, visible_layers

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {"district", "subdistricts", "communities", "grids", "roads", "water", "buildings",
            "houses", "persons", "population_blocks", "enterprises", "industrial_spaces",
            "facilities", "events", "sensors", "addresses", "blocks"}


def test_catalog_declares_every_layer() -> None:
    cat = default_catalog()
    assert set(cat) >= REQUIRED
    for layer in cat.values():
        d = layer.as_dict()
        assert d["title_zh"] and d["title_en"] and d["style"]["color"].startswith("#")
        assert 0 <= d["minzoom"] <= d["maxzoom"] <= 22
        assert d["properties"], layer.id
    blocks = cat["blocks"]
    assert isinstance(blocks, BlockLayer)
    assert {p.name for p in blocks.parameters} == {"kind", "res"}
    res = next(p for p in blocks.parameters if p.name == "res")
    assert res.choices == (7, 8, 9, 10, 11, 12)
    persons = cat["persons"]
    assert isinstance(persons, EntityLayer) and persons.access.personal
    assert {"name", "id_number", "phone"} <= set(persons.access.masked)


def test_access_rules() -> None:
    cat = default_catalog()
    public = {lyr.id for lyr in visible_layers(cat, Principal(PUBLIC))}
    assert "persons" not in public and "houses" not in public
    assert "population_blocks" in public
    planning = {lyr.id for lyr in visible_layers(cat, Principal("planning"))}
    assert "houses" in planning and "persons" not in planning
    assert "persons" in {lyr.id for lyr in visible_layers(cat, Principal("population"))}
    assert {lyr.id for lyr in visible_layers(cat, Principal(ADMIN))} >= REQUIRED


def test_core_packages_never_import_web_frameworks() -> None:
    banned = ("fastapi", "starlette", "pygeoapi")
    for pkg in ("gis", "layers", "tiles"):
        for path in (ROOT / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for n in names:
                    assert n.split(".")[0] not in banned, f"{path} imports {n}"
