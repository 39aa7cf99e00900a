"""The `tinct` command line. Heavy imports (torch) happen inside commands, so `tinct --version`
and `tinct --help` answer at once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tinct.version import __version__

app = typer.Typer(
    name="tinct",
    help="Colorize grayscale images: old photos, film, medical and scientific images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tinct {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """tinct: colorize grayscale images."""


def _load_session(
    model: str,
    device: str,
    size: int | None,
    temperature: float | None = None,
    debug: bool = False,
    backend: str = "auto",
):
    from tinct.api import ModelWeightsError, load_model
    from tinct.registry import UnknownModelError

    try:
        return load_model(model, device=device, working_size=size, backend=backend, temperature=temperature)
    except (UnknownModelError, ModelWeightsError, RuntimeError, ValueError) as e:
        if debug:
            raise
        _err(f"error: {e}")
        raise typer.Exit(2) from None


@app.command()
def colorize(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    output: Annotated[
        Optional[Path], typer.Option("-o", "--output", help="Output folder (default: beside each input).")
    ] = None,
    model: Annotated[
        Optional[str],
        typer.Option(
            "-m",
            "--model",
            help="Model name (see `tinct models`). Default: lite; for DICOM, NIfTI and FITS in realistic mode "
            "unet-medical (trained on colour medical images), or lite with --uncertainty (it needs a colour "
            "distribution).",
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    size: Annotated[Optional[int], typer.Option(help="Working size (short side the model sees).")] = None,
    recursive: Annotated[bool, typer.Option("-r", "--recursive", help="Descend into sub-folders.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace existing outputs (default: skip them).")] = False,
    fmt: Annotated[Optional[str], typer.Option("--format", help="Output format: jpg, png, tif, webp, bmp.")] = None,
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG/WebP quality.")] = 95,
    suffix: Annotated[str, typer.Option(help="Appended to each output's file name.")] = "_color",
    temperature: Annotated[
        Optional[float], typer.Option(help="Annealed-mean temperature (classification models).")
    ] = None,
    max_pixels: Annotated[Optional[int], typer.Option(help="Refuse images with more pixels (bomb guard).")] = None,
    scribbles: Annotated[
        Optional[Path], typer.Option(help="Colour strokes over the image (same size) to propagate (Levin et al.).")
    ] = None,
    reference: Annotated[Optional[Path], typer.Option(help="Transfer the colours of this reference image.")] = None,
    method: Annotated[str, typer.Option(help="Reference transfer: reinhard or welsh.")] = "reinhard",
    lut: Annotated[
        Optional[str],
        typer.Option(help="Pseudo-colour look-up table: a name (viridis, magma, ...) or a CSV/JSON file."),
    ] = None,
    hints: Annotated[
        Optional[Path],
        typer.Option(
            help='Colour points for a hint model: a JSON list of {"x": .., "y": .., "color": "#rrggbb"} '
            'or [x, y, "#rrggbb"], in input pixels.'
        ),
    ] = None,
    window: Annotated[str, typer.Option(help="Medical: DICOM/NIfTI window: auto, full or CENTER,WIDTH.")] = "auto",
    axis: Annotated[int, typer.Option(help="Medical: NIfTI slicing axis.")] = 2,
    mode: Annotated[
        str, typer.Option(help="Medical: realistic (a model) or pseudo (look-up table colour).")
    ] = "realistic",
    anonymize: Annotated[
        bool,
        typer.Option(
            help="Medical: de-identify outputs (DICOM basic profile) and give them neutral names, "
            "anon-<16 hex>_color.* (a hash of the new SOP Instance UID, random for NIfTI/FITS), never the input's "
            "file name, which may name the patient. No input-to-output list is kept unless --anonymize-map is given."
        ),
    ] = False,
    anonymize_map: Annotated[
        Optional[Path],
        typer.Option(
            help="With --anonymize: append 'input,output' CSV lines to this file. It links outputs to the "
            "input names: keep it private."
        ),
    ] = None,
    uncertainty: Annotated[
        bool,
        typer.Option(
            help="Also write {stem}_uncertainty.png (per frame/slice for medical inputs): a 16-bit gray map of "
            "the normalised entropy of the model's colour distribution, 0 certain, 65535 uniform. "
            "Classification models only (e.g. lite); not with --scribbles/--reference/--lut/--mode pseudo."
        ),
    ] = False,
    stretch: Annotated[str, typer.Option(help="FITS stretch: linear, asinh or log.")] = "linear",
    start: Annotated[Optional[float], typer.Option(help="Video: start at this second.")] = None,
    end: Annotated[Optional[float], typer.Option(help="Video: stop at this second.")] = None,
    crf: Annotated[int, typer.Option(min=0, max=51, help="Video: H.264 quality (lower is better).")] = 18,
    stabilize: Annotated[bool, typer.Option(help="Video: smooth colour along motion (no flicker).")] = True,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
    backend: Annotated[
        str, typer.Option(help="Inference backend: onnx (onnxruntime, CPU), torch, or auto (onnx when installed).")
    ] = "auto",
) -> None:
    """Colorize images (and videos, DICOM, NIfTI, FITS); outputs are `{stem}_color.{ext}`. Exit code 1 if any failed."""
    from tinct.batch import default_workers, run_batch

    if not suffix and output is None:
        _err("error: an empty --suffix needs an --output folder (inputs are never overwritten)")
        raise typer.Exit(2)
    from tinct.registry import DEFAULT_MEDICAL_MODEL, DEFAULT_MODEL

    session = _load_session(model or DEFAULT_MODEL, device, size, temperature, debug, backend)
    medical_sessions = {}  # the medical default, loaded when the first medical input comes

    def medical_session():
        if model is not None or uncertainty:
            return session
        if not medical_sessions:
            medical_sessions[0] = _load_session(DEFAULT_MEDICAL_MODEL, device, size, None, debug, backend)
        return medical_sessions[0]

    from tinct.api import Guidance
    from tinct.io import ImageError, read_image

    try:
        if mode not in ("realistic", "pseudo"):
            raise ValueError(f"--mode must be realistic or pseudo, not {mode!r}")
        lut = lut or ("viridis" if mode == "pseudo" else None)  # pseudo-colour: luminance keying
        guidance = Guidance(scribbles, reference, method, lut, hints)
        session.model_hints(guidance)  # hints for a model without hints: refused before any file
        if uncertainty:
            session.check_uncertainty(guidance)  # a regression model, or guidance: refused before any file
        if anonymize_map is not None and not anonymize:
            raise ValueError("--anonymize-map needs --anonymize")
    except (ValueError, ImageError) as e:
        _err(f"error: {e}")
        raise typer.Exit(2) from None

    def process(job, f: str) -> None:
        if guidance.hints and (job.video or job.medical):
            raise ValueError("--hints apply to still images only, not to videos, DICOM, NIfTI or FITS")
        if uncertainty and job.video:
            raise ValueError("--uncertainty applies to images, DICOM, NIfTI and FITS, not to videos")
        if job.video:
            try:
                from tinct.video import colorize_video
            except ImportError as e:
                raise ValueError(f"video needs the 'video' extra: pip install 'tinct[video]' ({e})") from None
            colorize_video(
                session,
                job.src,
                job.dst,
                start=start,
                end=end,
                crf=crf,
                stabilize=stabilize,
                progress=not quiet,
                reference=reference,
            )
        elif job.medical:
            from tinct.medical import colorize_medical_file

            written = colorize_medical_file(
                medical_session() if mode == "realistic" else None,
                job.src,
                job.dst.parent,
                window=window,
                axis=axis,
                mode=mode,
                lut=lut,
                anonymize=anonymize,
                stretch=stretch,
                max_pixels=max_pixels,
                uncertainty=uncertainty,
            )
            job.dst = next((p for p in written if "_color" in p.name), job.dst)  # reported: a real output
            if anonymize_map is not None:
                import csv

                with open(anonymize_map, "a", newline="") as fh:
                    csv.writer(fh).writerows((str(job.src), str(p)) for p in written)
        else:
            session.colorize_file(
                job.src,
                job.dst,
                fmt=f,
                quality=quality,
                max_pixels=max_pixels,
                guidance=guidance,
                image=job.prefetched(),
                defer=job.defer,
                uncertainty=uncertainty,
            )

    def prefetch(job):  # decoded ahead in a worker thread (images only)
        return None if job.medical or job.video else read_image(job.src, max_pixels=max_pixels)

    def on_error(path: Path, msg: str, tb: str) -> None:
        from tqdm import tqdm

        tqdm.write(f"failed: {path}: {msg}" + (f"\n{tb}" if debug and tb else ""), file=sys.stderr)

    def progress(jobs):
        if quiet or len(jobs) <= 1:
            return jobs
        from tqdm import tqdm

        return tqdm(jobs, unit="img", dynamic_ncols=True, file=sys.stderr)

    result = run_batch(
        inputs, process, output, recursive, overwrite, fmt, suffix, on_error, progress, prefetch, default_workers()
    )
    if len(result.done) == 1 and not result.failed and not result.skipped:
        typer.echo(str(result.done[0]))
    _err(result.summary())
    if result.failed:
        raise typer.Exit(1)


@app.command("colorize-dataset")
def colorize_dataset(
    inputs: Annotated[
        Optional[list[str]], typer.Argument(help="Folders, files, globs or object-store URIs (s3://, gs://, ...).")
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder every Ray node can write.")] = Path(
        "colored"
    ),
    from_list: Annotated[
        Optional[Path], typer.Option("--from-list", help="A text file of inputs, one path or URI a line.")
    ] = None,
    model: Annotated[str, typer.Option("-m", "--model", help="Model name (see `tinct models`).")] = "lite",
    device: Annotated[str, typer.Option(help="cpu, or cuda (one GPU per actor).")] = "cpu",
    backend: Annotated[str, typer.Option(help="onnx, torch or auto (as for colorize).")] = "auto",
    actors: Annotated[int, typer.Option(min=1, help="Model actors (each loads the model once).")] = 2,
    cpus_per_actor: Annotated[float, typer.Option(help="CPUs (threads) per actor.")] = 1.0,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per actor call.")] = 16,
    size: Annotated[Optional[int], typer.Option(help="Working size (short side the model sees).")] = None,
    recursive: Annotated[bool, typer.Option("-r", "--recursive", help="Descend into sub-folders.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace existing outputs (default: skip them).")] = False,
    fmt: Annotated[Optional[str], typer.Option("--format", help="Output format: jpg, png, tif, webp, bmp.")] = None,
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG/WebP quality.")] = 95,
    suffix: Annotated[str, typer.Option(help="Appended to each output's file name.")] = "_color",
    max_pixels: Annotated[Optional[int], typer.Option(help="Refuse images with more pixels (bomb guard).")] = None,
) -> None:
    """Colorize a dataset on Ray (this machine, or the cluster in RAY_ADDRESS); same naming,
    skipping and failure lines as `colorize`. Needs `pip install 'tinct[cluster]'`. Exit code 1 if any failed."""
    items = list(inputs or [])
    if from_list is not None:
        items += [ln.strip() for ln in from_list.read_text().splitlines() if ln.strip()]
    if not items:
        _err("error: give inputs, or --from-list FILE")
        raise typer.Exit(2)
    if not suffix:
        _err("error: an empty --suffix is not allowed here (inputs are never overwritten)")
        raise typer.Exit(2)
    from tinct.registry import UnknownModelError

    try:
        from tinct.cluster import colorize_dataset as run_dataset

        result = run_dataset(
            items,
            output,
            model,
            num_actors=actors,
            batch_size=batch_size,
            device=device,
            backend=backend,
            working_size=size,
            fmt=fmt,
            quality=quality,
            suffix=suffix,
            overwrite=overwrite,
            recursive=recursive,
            max_pixels=max_pixels,
            cpus_per_actor=cpus_per_actor,
        )
    except (ImportError, UnknownModelError, ValueError) as e:
        _err(f"error: {e}")
        raise typer.Exit(2) from None
    for path, msg in result.failed:
        _err(f"failed: {path}: {msg}")
    _err(result.summary())
    if result.failed:
        raise typer.Exit(1)


@app.command()
def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write (e.g. lite.onnx).")],
    model: Annotated[str, typer.Option("-m", "--model", help="Model name (see `tinct models`).")] = "lite",
    fmt: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 17,
    temperature: Annotated[
        Optional[float], typer.Option(help="Annealed-mean temperature to bake in (classification models).")
    ] = None,
) -> None:
    """Export a model's inference graph (L -> ab, decoding included) for other runtimes."""
    if fmt.lower() != "onnx":
        _err(f"error: unknown export format {fmt!r}; supported: onnx")
        raise typer.Exit(2)
    from tinct.api import ModelWeightsError
    from tinct.onnx import OnnxUnavailableError, export_onnx
    from tinct.registry import UnknownModelError

    try:
        path = export_onnx(model, output, opset=opset, temperature=temperature)
    except (UnknownModelError, ModelWeightsError, OnnxUnavailableError, ValueError) as e:
        _err(f"error: {e}")
        raise typer.Exit(2) from None
    typer.echo(str(path))


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the models in the registry, with weights size and validation scores."""
    import json

    from tinct.registry import model_rows

    rows = model_rows()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="tinct models (scores: ../shared/data/val, see docs/MODELS.md)")
    for col in ("name", "params", "weights", "size", "val PSNR", "gain vs gray", "colourfulness", "description"):
        t.add_column(col)

    def fmt(v, spec="{:.2f}"):
        return "-" if v is None else spec.format(v)

    for r in rows:
        t.add_row(
            r["name"] + (" *" if r["default"] else ""),
            fmt(r["parameters"], "{:,}"),
            fmt(r["weights_bytes"] and r["weights_bytes"] / 1e6, "{:.1f} MB") if r["weights_bytes"] else "missing",
            str(r["working_size"]),
            fmt(r["val_psnr"]),
            fmt(r["val_psnr_gain"], "{:+.2f} dB"),
            fmt(r["val_colourfulness_ratio"]),
            r["description"],
        )
    Console().print(t)
    typer.echo("* default model", err=True)


@app.command("eval")
def eval_(
    data_dir: Annotated[
        Optional[Path], typer.Argument(help="Folder of colour images and/or videos, or one video (the truth).")
    ] = None,
    models: Annotated[str, typer.Option("--models", help="Model names, comma-separated, or 'all'.")] = "lite",
    out: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("eval-report"),
    limit: Annotated[Optional[int], typer.Option(help="Score at most N images.")] = None,
    size: Annotated[Optional[int], typer.Option(help="Working size for every model.")] = None,
    device: Annotated[str, typer.Option(help="cpu, auto or cuda.")] = "cpu",
    compare: Annotated[
        Optional[tuple[Path, Path]], typer.Option("--compare", help="Compare two summary.json files.")
    ] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar.")] = False,
    frames: Annotated[Optional[int], typer.Option(help="Videos: score at most N frames of each.")] = None,
    hints: Annotated[
        int, typer.Option(min=0, help="Images: give hint models N true colour points per image (seeded by its name).")
    ] = 0,
) -> None:
    """Score models on colour images and videos, beside the gray baseline.

    Images: metrics.csv, summary.json, report.html and summary.png. Videos (a video file, or the
    videos in the folder): video_metrics.csv and video_summary.json with PSNR per frame and the
    flicker metric, raw and stabilised, beside the truth's own flicker."""
    import shlex

    from tinct.api import ModelWeightsError
    from tinct.evaluate import EvalError, iter_image_files, iter_video_files, run_eval, run_video_eval
    from tinct.evaluate import compare as compare_summaries
    from tinct.registry import UnknownModelError

    try:
        if compare is not None:
            typer.echo(compare_summaries(*compare))
            return
        if data_dir is None:
            _err("error: give DATA_DIR, or --compare A.json B.json")
            raise typer.Exit(2)
        command = shlex.join(["tinct", *sys.argv[1:]])
        videos = iter_video_files(data_dir, exclude=out) if data_dir.exists() else []
        images = data_dir.is_dir() and bool(iter_image_files(data_dir, exclude=out))
        if videos:
            video_summary = run_video_eval(data_dir, models, out, frames, size, device, command)
            _print_video_summary(video_summary)
            _err(f"video report: {out / 'video_summary.json'}")
        if images or not videos:
            summary = run_eval(
                data_dir,
                models,
                out,
                limit=limit,
                size=size,
                progress=not quiet,
                device=device,
                command=command,
                hints=hints,
            )
            _print_summary(summary)
            _err(f"report: {out / 'report.html'}")
    except (EvalError, UnknownModelError, ModelWeightsError) as e:
        _err(f"error: {e}")
        raise typer.Exit(2) from None


def _print_video_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"tinct eval: {summary['n_videos']} videos")
    keys = ("psnr_gray", "psnr_raw", "psnr_stable", "flicker_truth", "flicker_raw", "flicker_stable")
    for c in ("model", "frames", *(k.replace("_", " ") for k in keys)):
        t.add_column(c)
    for name, m in summary["models"].items():
        cells = [m.get(k) for k in keys]
        t.add_row(name, str(m["frames"]), *("-" if v is None else f"{v:.3f}" for v in cells))
    Console().print(t)


def _print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    n_hints = summary.get("hints", {}).get("per_image", 0)
    with_hints = f", {n_hints} colour hints per image" if n_hints else ""
    t = Table(title=f"tinct eval: {summary.get('n_images', '?')} images{with_hints}")
    cols = ["model", "PSNR", "gain", "SSIM", "CIEDE2000", "colourfulness", "AIT s"]
    for c in cols:
        t.add_column(c)
    for name, m in summary["models"].items():

        def g(key, spec="{:.3f}", m=m):
            v = m.get("stats", {}).get(key, {}).get("mean")
            return "-" if v is None else spec.format(v)

        t.add_row(
            name, g("psnr"), g("psnr_gain", "{:+.3f}"), g("ssim"), g("ciede2000"), g("colourfulness_ratio"), g("ait_s")
        )
    Console().print(t)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 exposes it to the network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    model: Annotated[str, typer.Option("-m", "--model", help="Default model.")] = "lite",
    device: Annotated[str, typer.Option()] = "auto",
    workers: Annotated[int, typer.Option(min=1, help="Server processes (each loads the model once).")] = 1,
    queue_size: Annotated[int, typer.Option(min=1, help="Requests queued or running before 503.")] = 8,
    timeout: Annotated[float, typer.Option(help="Per-request time limit, seconds.")] = 60.0,
    max_body_mb: Annotated[float, typer.Option(help="Largest upload, MB.")] = 25.0,
    max_pixels: Annotated[int, typer.Option(help="Largest image, pixels (bomb guard).")] = 40_000_000,
) -> None:
    """Serve the web page and the REST API (FastAPI + uvicorn)."""
    try:
        from tinct.server import run_server
    except ImportError as e:
        _err(f"error: the server needs the 'serve' extra: pip install 'tinct[serve]' ({e})")
        raise typer.Exit(2) from None
    run_server(
        host,
        port,
        model=model,
        device=device,
        workers=workers,
        queue_size=queue_size,
        timeout_s=timeout,
        max_body_bytes=int(max_body_mb * 2**20),
        max_pixels=max_pixels,
    )


@app.command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the results.")] = Path("tinct-demo"),
    model: Annotated[str, typer.Option("-m", "--model")] = "lite",
    device: Annotated[str, typer.Option()] = "auto",
) -> None:
    """Colorize the bundled demo photos into OUTPUT, with a before/after image of each."""
    import numpy as np
    from PIL import Image

    from tinct.io import read_image, write_image

    demo_dir = Path(__file__).parent / "demo"
    files = sorted(p for p in demo_dir.glob("*.jpg"))
    session = _load_session(model, device, None)
    output.mkdir(parents=True, exist_ok=True)
    for src in files:
        dst = session.colorize_file(src, output / f"{src.stem}_color.jpg")
        before = read_image(src).pixels
        before = np.dstack([before] * 3) if before.ndim == 2 else before
        after = np.asarray(Image.open(dst).convert("RGB"))
        gap = np.full((before.shape[0], 8, 3), 255, np.uint8)
        write_image(output / f"{src.stem}_before_after.jpg", np.hstack([before, gap, after]), quality=90)
        typer.echo(str(dst))
    _err(f"{len(files)} demo images colorized into {output}/ (see *_before_after.jpg)")


@app.command()
def train(
    config: Annotated[Optional[Path], typer.Option(help="TOML config (see configs/).")] = None,
    model: Annotated[Optional[str], typer.Option(help="Architecture name.")] = None,
    data: Annotated[Optional[str], typer.Option(help="Folder of colour training images.")] = None,
    val: Annotated[Optional[str], typer.Option(help="Folder of validation images.")] = None,
    steps: Annotated[Optional[int], typer.Option()] = None,
    epochs: Annotated[Optional[float], typer.Option()] = None,
    size: Annotated[Optional[int], typer.Option(help="Crop size.")] = None,
    batch: Annotated[Optional[int], typer.Option()] = None,
    lr: Annotated[Optional[float], typer.Option()] = None,
    device: Annotated[Optional[str], typer.Option()] = None,
    precision: Annotated[
        Optional[str], typer.Option(help="auto (bf16 on a GPU, fp32 on the CPU), fp32, bf16 or fp16.")
    ] = None,
    out: Annotated[Optional[str], typer.Option(help="Run folder (checkpoints, logs, weights).")] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.safetensors.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet")] = False,
) -> None:
    """Train a model; checkpoints are atomic and `--resume` continues exactly."""
    from tinct.train import TrainConfig, TrainingError
    from tinct.train import train as run_train

    overrides = dict(
        model=model,
        data=data,
        val=val,
        steps=steps,
        epochs=epochs,
        size=size,
        batch=batch,
        lr=lr,
        device=device,
        precision=precision,
        out=out,
        seed=seed,
    )
    try:
        if config is not None:
            cfg = TrainConfig.from_file(config, **overrides)
        else:
            cfg = TrainConfig(**{k: v for k, v in overrides.items() if v is not None})
        summary = run_train(cfg, resume=resume, progress=not quiet)
    except (TrainingError, FileNotFoundError) as e:
        _err(f"error: {e}")
        raise typer.Exit(1) from None
    import os

    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for all
        _err(f"trained {summary['steps']} steps; weights: {Path(cfg.out) / 'model.safetensors'}")


def run() -> None:
    app()


if __name__ == "__main__":
    run()
