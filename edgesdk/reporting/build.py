"""`report`: render saved results (manifests, compress/evaluate/benchmark JSON) as Markdown and
one self-contained HTML page with matplotlib plots. Reads saved files only; runs no model."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.core.fileio import write_atomic
from edgesdk.core.results import JsonResult
from edgesdk.errors import ConfigError
from edgesdk.reporting.collect import collect
from edgesdk.reporting.sections import Section, sections

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportResult(JsonResult):
    """Where the report went and what it was made from."""

    markdown: str
    html: str
    plots: tuple[str, ...]
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "markdown": self.markdown,
            "html": self.html,
            "plots": list(self.plots),
            "sources": list(self.sources),
        }


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(title: str, intro: str, sections: list[Section]) -> str:
    lines = [f"# {title}", "", intro, ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        for p in s.paragraphs:
            lines += [p, ""]
        for header, rows in s.tables:
            lines.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            lines.append("")
        for name, caption in s.plots:
            lines += [f"![{caption}]({name})", ""]
    return "\n".join(lines)


def to_html(title: str, intro: str, sections: list[Section], plots: dict[str, bytes]) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;"
        "padding:.25em .6em;text-align:left}th{background:#f3f3f3}img{max-width:100%}</style>",
        "</head>",
        "<body>",
        f"<h1>{e(title)}</h1>",
        f"<p>{e(intro)}</p>",
    ]
    for s in sections:
        parts.append(f"<h2>{e(s.title)}</h2>")
        parts += [f"<p>{e(p)}</p>" for p in s.paragraphs]
        for header, rows in s.tables:
            parts.append("<table>")
            parts.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
            parts += [
                "<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows
            ]
            parts.append("</table>")
        for name, caption in s.plots:
            data = base64.b64encode(plots[name]).decode("ascii")
            parts.append(
                f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{e(caption)}</figcaption></figure>"
            )
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def make_report(folder: str | Path, out_dir: str | Path | None = None) -> ReportResult:
    """Render every saved result under ``folder`` into ``out_dir`` (default ``folder/report``).

    Raises:
        ConfigError: ``folder`` is not a folder, or holds no edgesdk results.
        OutputError: the report cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")
    base = Path(folder).expanduser().absolute()
    if not base.is_dir():
        raise ConfigError(f"Not a folder: {base} (expected the folder holding edgesdk results)")
    out = Path(out_dir).expanduser().absolute() if out_dir else base / "report"
    found = collect(base, skip=out)
    if not any(found.items.values()):
        raise ConfigError(
            f"No edgesdk results in {base} (expected manifests written by quantize, export-c and "
            "compress, or JSON saved with `save` by compress, evaluate and benchmark)",
            what="folder",
            value=str(base),
        )
    plots: dict[str, bytes] = {}
    made = sections(found, plots)
    title = "edgesdk report"
    stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    intro = f"Made from {len(found.sources)} saved result file(s) in {base} on {stamp}."
    written = []
    for name, png in plots.items():
        written.append(str(write_atomic(out / name, png)))
    md = write_atomic(out / "report.md", to_markdown(title, intro, made))
    page = write_atomic(out / "report.html", to_html(title, intro, made, plots))
    return ReportResult(str(md), str(page), tuple(written), tuple(found.sources))
