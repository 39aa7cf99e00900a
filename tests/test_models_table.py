"""scripts/models_table.py: docs/MODELS.md's comparison table, read from the cards and the benchmark."""

from __future__ import annotations

from tinct.registry import DEFAULT_MODEL, MODELS, get_spec

from .conftest import load_script


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(bench: dict) -> dict[str, dict[str, str]]:
    """The printed table: each row's cells by column, by the row's first cell."""
    lines = load_script("scripts/models_table.py").rows(bench)
    head = _cells(lines[0])
    assert set(lines[1]) == {"|", "-"} and lines[1].count("|") == len(head) + 1
    table = {}
    for line in lines[2:]:
        cells = _cells(line)
        assert len(cells) == len(head), line
        table[cells[0]] = dict(zip(head, cells, strict=True))
    return table


def test_one_row_per_registry_model_after_gray_with_the_cards_figures():
    table = _table({})
    assert list(table)[0] == "gray (baseline)"
    assert len(table) == len(MODELS) + 1
    default = table[f"`{DEFAULT_MODEL}` (default)"]
    val = get_spec(DEFAULT_MODEL).card_metrics()["val"]
    assert default["val gain"] == format(val["psnr_gain"], "+.2f")
    assert default["val colourf."] == format(val["colourfulness_ratio"], ".2f")
    assert float(table["gray (baseline)"]["val PSNR"]) == round(val["gray_psnr"], 2)
    # without benchmark figures the speed columns are dashes, not zeros or crashes
    assert default["CPU ms 256 px"] == default["CPU s 12 MP"] == "-"


def test_a_chain_stage_is_named_from_its_own_config():
    card = get_spec("prism").card_metrics()["training"]
    stage = int(card["config_file"].rsplit("stage", 1)[1].removesuffix(".toml"))
    row = _table({})[f"`prism`{' (default)' if DEFAULT_MODEL == 'prism' else ''}"]
    assert f"stage {stage} of a chain (`configs/prism/STAGES.md`)" in row["training"]
    assert row["training"].startswith(f"{card['steps']:,} x 32 @ 128 px")


def test_benchmark_figures_fill_the_speed_columns():
    bench = {
        "archs": {"lite": {"gmacs": 9.051, "ms": 253.6}, "prism:width=48,attention=1": {"gmacs": 5.9, "ms": 134.2}},
        "end_to_end": {"(no network)": 0.181, "lite": 0.262},
    }
    table = _table(bench)
    assert table["gray (baseline)"]["CPU s 12 MP"] == "0.18"
    lite = table["`lite`"]
    assert (lite["GMACs 256 px"], lite["CPU ms 256 px"], lite["CPU s 12 MP"]) == ("9.05", "254", "0.26")
    prism = next(row for name, row in table.items() if name.startswith("`prism`"))
    assert (prism["GMACs 256 px"], prism["CPU ms 256 px"], prism["CPU s 12 MP"]) == ("5.90", "134", "-")
