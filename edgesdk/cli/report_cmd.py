"""`edgesdk report DIR [-o OUT_DIR]`: Markdown + self-contained HTML from saved results."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import console, handle_errors, print_json, safe


@handle_errors
def report(
    folder: Annotated[str, typer.Argument(help="Folder with saved results and manifests.")],
    out_dir: Annotated[
        str | None, typer.Option("--output", "-o", help="Where to write (default DIR/report).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Render saved quantize/export-c/compress/evaluate/benchmark results with plots."""
    from edgesdk import api

    result = api.report(folder, out_dir)
    if json_out:
        print_json(result.to_dict())
        return
    console.print(f"report: {safe(result.markdown)}")
    console.print(f"        {safe(result.html)} (self-contained, {len(result.plots)} plot(s))")
    console.print(f"from {len(result.sources)} saved result file(s)")
