"""The page filters never raise on a missing value.

Found by the full suite: an asset enrolled by the bench workload (no `size` in its metadata)
made `/market` answer 500 (`int()` of a jinja2 Undefined raises UndefinedError, not TypeError).
"""

from __future__ import annotations

from jinja2 import Environment

from webapp.formats import human_size, tokens


def render(source: str, **context: object) -> str:
    env = Environment(autoescape=True)
    env.filters.update(size=human_size, tokens=tokens)
    return env.from_string(source).render(**context)


def test_missing_metadata_fields_render_blank() -> None:
    assert render("[{{ meta.size|size }}|{{ meta.price|tokens }}]", meta={"format": "csv"}) == "[|]"


def test_present_values_render_in_units() -> None:
    assert render("{{ meta.size|size }} {{ v|tokens }}", meta={"size": 1536}, v=12345) == "1.5 KB 12,345"
    assert human_size(812) == "812 B" and human_size(3 * 1024 * 1024) == "3.0 MB" and human_size("x") == ""
