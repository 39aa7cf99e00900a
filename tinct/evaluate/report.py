"""``tinct eval``'s report: ``summary.json``, ``summary.png`` (mean PSNR gain with 95% CI whiskers) and
a self-contained ``report.html`` (summary table, per-image gains as inline SVG, and the best, median
and worst images re-run through every model).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tinct.core import metrics
from tinct.evaluate.scoring import (
    GRAY,
    STATISTICS,
    ColorizerSession,
    Columns,
    Statistic,
    colorize_timed,
    gray_rgb,
    load_truth,
    true_hints,
)

THUMB_SIDE = 256  #: longest side of the images shown in report.html
PALETTE = ("#7f7f7f", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def write_outputs(
    summary: dict[str, Any], cols: Columns, sessions: dict[str, ColorizerSession], data_dir: Path, out_dir: Path
) -> None:
    """summary.json, summary.png and report.html (metrics.csv is written while scoring)."""
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    png = summary_png(summary)
    (out_dir / "summary.png").write_bytes(png)
    examples = _examples(cols, sessions, data_dir, summary.get("hints", {}).get("per_image", 0))
    (out_dir / "report.html").write_text(report_html(summary, cols, png, examples), encoding="utf-8")


def _ranking_key(cols: Columns) -> tuple[str, str]:
    """(model, column) the examples are ranked by: the first model's PSNR gain (gray's PSNR if none)."""
    models = [m for m in cols.values if m != GRAY]
    return (models[0], "psnr_gain") if models else (GRAY, "psnr")


def example_indices(cols: Columns) -> list[tuple[str, int]]:
    """[("best", i), ("median", j), ("worst", k)] image indices by :func:`_ranking_key` (duplicates dropped)."""
    order = np.argsort(cols.array(*_ranking_key(cols)), kind="stable")
    picks: list[tuple[str, int]] = []
    for label, i in (("best", order[-1]), ("median", order[len(order) // 2]), ("worst", order[0])):
        if all(int(i) != j for _, j in picks):
            picks.append((label, int(i)))
    return picks


def _examples(
    cols: Columns, sessions: dict[str, ColorizerSession], data_dir: Path, hints: int = 0
) -> list[dict[str, Any]]:
    """The best / median / worst images re-run through every model (with the same ``hints`` per
    image as when scored): label, image name, [(caption, RGB)]."""
    out = []
    for label, i in example_indices(cols):
        name = cols.images[i]
        truth = load_truth(data_dir / name)
        gray = metrics.gray_baseline(truth)
        points = true_hints(name, truth, hints)
        panels = [("input (gray baseline)", gray_rgb(gray))]
        for model, session in sessions.items():
            gain = cols.values[model]["psnr_gain"][i]
            panels.append(
                (
                    f"{model}: {cols.values[model]['psnr'][i]:.2f} dB ({gain:+.2f})",
                    colorize_timed(session, gray, points)[0],
                )
            )
        panels.append(("truth", truth))
        out.append({"label": label, "image": name, "panels": panels})
    return out


def _data_uri(rgb: np.ndarray, fmt: str = "JPEG") -> str:
    im = Image.fromarray(rgb)
    im.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, fmt, quality=88) if fmt == "JPEG" else im.save(buf, fmt)
    mime = "jpeg" if fmt == "JPEG" else fmt.lower()
    return f"data:image/{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (about ``count`` of them)."""
    if not hi > lo:
        lo, hi = lo - 1.0, hi + 1.0
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    return [round(first + k * step, 10) for k in range(int(math.ceil((hi - first) / step)) + 1)]


def gain_plot_svg(cols: Columns, width: int = 720, height: int = 340) -> str:
    """Inline SVG: each model's per-image PSNR gain over gray, sorted (x: fraction of images)."""
    models = [m for m in cols.values if m != GRAY]
    if not models:
        return "<p>No model was evaluated (gray baseline only).</p>"
    gains = {m: np.sort(cols.array(m, "psnr_gain")) for m in models}
    ticks = nice_ticks(min(0.0, *(g.min() for g in gains.values())), max(0.0, *(g.max() for g in gains.values())))
    longest = max(len(f"{m} (mean {gains[m].mean():+.2f})") for m in models)
    right = max(150, 22 + 7 * longest)  # the legend shows full names (about 7 px a character at 12 px)
    width += right - 150
    left, top, bottom = 56, 16, 40
    pw, ph = width - left - right, height - top - bottom

    def y(v: float) -> float:
        return top + ph * (ticks[-1] - v) / (ticks[-1] - ticks[0])

    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" font-size="12">']
    for t in ticks:
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    parts.append(
        f'<line x1="{left}" x2="{left + pw}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#555" stroke-dasharray="4 3"/>'
    )
    parts.append(f'<text x="{left + pw + 6}" y="{y(0) + 4:.1f}" fill="#555">gray baseline</text>')
    for k, m in enumerate(models):
        g = gains[m]
        xs = [left + pw * (i + 0.5) / len(g) for i in range(len(g))]
        pts = " ".join(f"{x:.1f},{y(v):.1f}" for x, v in zip(xs, g, strict=True))
        color = PALETTE[1 + k % (len(PALETTE) - 1)]
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        if len(g) <= 200:
            parts.extend(
                f'<circle cx="{x:.1f}" cy="{y(v):.1f}" r="2.2" fill="{color}"/>' for x, v in zip(xs, g, strict=True)
            )
        ly = top + 20 + 18 * k
        parts.append(f'<rect x="{left + pw + 6}" y="{ly - 9}" width="12" height="4" fill="{color}"/>')
        parts.append(f'<text x="{left + pw + 22}" y="{ly - 3}">{html.escape(m)} (mean {g.mean():+.2f})</text>')
    parts.append(
        f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">images, sorted by gain '
        "(fraction of the set)</text>"
    )
    parts.append(
        f'<text transform="translate(14 {top + ph / 2}) rotate(-90)" text-anchor="middle">'
        "PSNR gain over gray (dB)</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def summary_png(summary: dict[str, Any], width: int = 640, height: int = 360) -> bytes:
    """PNG bar chart: mean PSNR gain over gray per model (gray = 0) with 95% CI whiskers."""
    rows = [(m, s["stats"]["psnr_gain"]) for m, s in summary["models"].items()]
    vals = [v for _, st in rows for v in (st["mean"], st["lo"], st["hi"]) if v is not None]
    ticks = nice_ticks(min(0.0, *vals), max(0.0, *vals))
    left, right, top, bottom = 64, 16, 36, 48
    pw, ph = width - left - right, height - top - bottom
    font = _font(13)
    fits = all(font.getlength(m) <= 0.95 * pw / len(rows) for m, _ in rows)
    key_lines = [] if fits else [f"{k + 1}: {m}" for k, (m, _) in enumerate(rows)]  # full names under the chart
    im = Image.new("RGB", (width, height + 18 * len(key_lines)), "white")
    d = ImageDraw.Draw(im)
    for i, line in enumerate(key_lines):
        d.text((left, height + 18 * i), line, fill="black", font=font)

    def y(v: float) -> float:
        return top + ph * (ticks[-1] - v) / (ticks[-1] - ticks[0])

    d.text((left, 10), f"PSNR gain over gray, {summary['n_images']} images (95% CI)", fill="black", font=font)
    for t in ticks:
        d.line([(left, y(t)), (left + pw, y(t))], fill=(221, 221, 221))
        d.text((left - 6, y(t)), f"{t:g}", fill="black", font=font, anchor="rm")
    slot = pw / len(rows)
    for k, (model, st) in enumerate(rows):
        cx, mean = left + slot * (k + 0.5), st["mean"] or 0.0
        color = PALETTE[k % len(PALETTE)]
        d.rectangle([cx - slot * 0.3, min(y(0), y(mean)), cx + slot * 0.3, max(y(0), y(mean))], fill=color)
        if st["lo"] is not None and st["hi"] is not None:
            d.line([(cx, y(st["lo"])), (cx, y(st["hi"]))], fill="black", width=2)
            for v in (st["lo"], st["hi"]):
                d.line([(cx - 8, y(v)), (cx + 8, y(v))], fill="black", width=2)
        d.text((cx, top + ph + 8), model if fits else str(k + 1), fill="black", font=font, anchor="mt")
        d.text((cx, top + ph + 26), f"{mean:+.2f} dB", fill="black", font=font, anchor="mt")
    d.line([(left, y(0)), (left + pw, y(0))], fill="black", width=1)
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _cell(st: dict[str, float | None], fmt: str) -> str:
    if st["mean"] is None:
        return "<td>–</td>"
    ci = f"<br><small>[{st['lo']:{fmt}}, {st['hi']:{fmt}}]</small>" if st["lo"] is not None else ""
    return f"<td>{st['mean']:{fmt}}{ci}</td>"


#: what each column of the summary table measures (the report explains every column under the table)
EXPLANATIONS: dict[str, str] = {
    "n": "images scored (near-gray and unreadable images are skipped: they hold no colour truth)",
    "psnr": "peak signal-to-noise ratio of the output against the colour truth, 8-bit RGB",
    "psnr_gain": "PSNR of the model minus PSNR of the gray input on the same image: what the colour adds",
    "ssim": "structural similarity to the truth (RGB channels averaged)",
    "ssim_gain": "SSIM of the model minus SSIM of the gray input",
    "mse": "mean squared error against the truth, RGB in [0, 1]",
    "ciede2000": "mean CIEDE2000 colour difference to the truth (about 2.3 is a just noticeable difference)",
    "colourfulness_ratio": "Hasler-Suesstrunk colourfulness of the outputs over that of the truths (ratio of means)",
    "lum_err_max": "largest CIELAB L difference between output and input: tinct keeps the input's L",
    "lum_err_mean": "mean CIELAB L difference between output and input",
    "ait_s": "average inference time per image, seconds (batch size, device and resolution above)",
}


def _better(st: Statistic) -> str:
    """``higher is better``, ``lower is better`` or ``1.0 is ideal``."""
    return {1: "higher is better", -1: "lower is better"}.get(st.better, "1.0 is ideal")


def columns_html() -> str:
    """The summary table's columns explained: what each measures and which way is better."""
    rows = [f"<dt>n</dt><dd>{html.escape(EXPLANATIONS['n'])}</dd>"]
    for key, st in STATISTICS.items():
        rows.append(
            f"<dt>{html.escape(st.label)} ({_better(st)})</dt><dd>{html.escape(EXPLANATIONS.get(key, st.label))}</dd>"
        )
    return f"<dl class=columns>{''.join(rows)}</dl>"


def summary_table_html(summary: dict[str, Any]) -> str:
    """The summary table: one row per model (gray first), mean and [95% CI] per statistic; each column
    header says which way is better (its title: what it measures)."""
    arrows = {1: " ↑", -1: " ↓", 0: " (1 ideal)"}
    head = "".join(
        f'<th title="{html.escape(EXPLANATIONS.get(key, ""))}">{html.escape(st.label)}{arrows[st.better]}</th>'
        for key, st in STATISTICS.items()
    )
    body = []
    for model, s in summary["models"].items():
        cells = "".join(_cell(s["stats"][key], st.fmt) for key, st in STATISTICS.items())
        size = "" if s["working_size"] is None else f"<br><small>working size {s['working_size']}</small>"
        size += f"<br><small>{s['hints']} hints per image</small>" if s.get("hints") else ""
        body.append(f"<tr><th>{html.escape(model)}{size}</th><td>{s['n']}</td>{cells}</tr>")
    return f"<table><tr><th>model</th><th>n</th>{head}</tr>{''.join(body)}</table>"


def by_source_html(summary: dict[str, Any]) -> str:
    """The per-source table ("" when the summary has none): gray's PSNR, then each model's PSNR gain,
    CIEDE2000 and colourfulness ratio; a gain at or below 0 (no better than gray) is marked."""
    grouped = summary.get("by_source")
    if not grouped:
        return ""
    models = [m for m in summary["models"] if m != GRAY]
    head = "".join(
        f"<th>{name}<br>gain ↑</th><th>{name}<br>CIEDE2000 ↓</th><th>{name}<br>colourf.</th>"
        for name in map(html.escape, models)
    )

    def num(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    bold = "<td><b>{}</b></td>"

    rows = []
    for source, v in grouped["sources"].items():
        cells = "".join(
            (bold if (f["psnr_gain"] or 0) <= 0 else "<td>{}</td>").format(num(f["psnr_gain"], "+.2f"))
            + f"<td>{num(f['ciede2000'], '.2f')}</td><td>{num(f['colourfulness_ratio'], '.2f')}</td>"
            for f in (v["models"][m] for m in models)
        )
        gray = v["models"][GRAY]
        rows.append(
            f"<tr><th>{html.escape(source)}</th><td>{v['n']}</td><td>{num(gray['psnr'], '.2f')}</td>"
            f"<td>{num(gray['ciede2000'], '.2f')}</td>{cells}</tr>"
        )
    return (
        f"<h2>Per source</h2><p>Sources from {html.escape(grouped['from'])}; a PSNR gain in bold is no better "
        f"than gray.</p><table><tr><th>source</th><th>n</th><th>gray PSNR</th><th>gray CIEDE2000</th>{head}</tr>"
        f"{''.join(rows)}</table>"
    )


def examples_html(examples: list[dict[str, Any]]) -> str:
    """Input / each model / truth for the chosen images, as embedded JPEG data URIs."""
    blocks = []
    for ex in examples:
        figs = "".join(
            f'<figure><img src="{_data_uri(rgb)}" alt="{html.escape(cap)}"><figcaption>{html.escape(cap)}</figcaption>'
            "</figure>"
            for cap, rgb in ex["panels"]
        )
        blocks.append(f"<h3>{ex['label']}: {html.escape(ex['image'])}</h3><div class=row>{figs}</div>")
    return "\n".join(blocks)


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;vertical-align:top}small{color:#666}
.row{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}figcaption{font-size:12px;max-width:256px}
.row img{height:192px;width:auto}
code{background:#f4f4f4;padding:1px 4px}.columns dt{font-weight:600;margin-top:4px}.columns dd{margin-left:1.5em}"""


def _hints_sentence(summary: dict[str, Any]) -> str:
    """The report's line about colour hints ("" when the models got none)."""
    n = summary.get("hints", {}).get("per_image", 0)
    if not n:
        return ""
    return (
        f"Every model was given <b>{n} true colour points</b> per image as hints (random points seeded by the "
        "image's name; the truth's mean colour over 3 x 3 pixels at each)."
    )


def report_html(summary: dict[str, Any], cols: Columns, png: bytes, examples: list[dict[str, Any]]) -> str:
    """The self-contained report page (no external asset: CSS inline, images as data URIs, SVG inline)."""
    t = summary["timing"]
    res = t["resolution"]
    model, column = _ranking_key(cols)
    skipped = "".join(f"<li>{html.escape(s['image'])}: {html.escape(s['error'])}</li>" for s in summary["skipped"])
    png_uri = f"data:image/png;base64,{base64.b64encode(png).decode('ascii')}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tinct eval: {html.escape(summary["dataset"])}</title>
<style>{_CSS}</style></head><body>
<h1>tinct eval</h1>
<p>Dataset <code>{html.escape(summary["dataset"])}</code>: {summary["n_images"]} images scored,
{summary["n_skipped"]} skipped. Command: <code>{html.escape(summary["command"])}</code>.
tinct {summary["tinct_version"]}.</p>
<p>Inputs are each truth's own CIELAB L shown as gray; the <b>gray</b> row scores that input itself.
{_hints_sentence(summary)}
Means with 95% bootstrap confidence intervals ({summary["bootstrap"]["n"]} resamples of the images).
AIT: batch size {t["batch_size"]}, device {html.escape(t["device"])} ({html.escape(t["hardware"])}),
{res["input"]} ({res["smallest_wh"][0]}x{res["smallest_wh"][1]} to {res["largest_wh"][0]}x{res["largest_wh"][1]},
mean {res["mean_megapixels"]} MP).</p>
<h2>Summary</h2>
{summary_table_html(summary)}
<h3>The columns</h3>
{columns_html()}
{by_source_html(summary)}
<h2>PSNR gain over gray, per image</h2>
{gain_plot_svg(cols)}
<p><img src="{png_uri}" alt="mean PSNR gain per model with 95% CI"></p>
<h2>Examples (best, median and worst by {html.escape(column)} of {html.escape(model)})</h2>
{examples_html(examples)}
{f"<h2>Skipped images</h2><ul>{skipped}</ul>" if skipped else ""}
</body></html>
"""
