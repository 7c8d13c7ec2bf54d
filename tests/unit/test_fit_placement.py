"""Where the model's constant arrays go (edgeq.targets.fit): flash while the whole image fits there, else the
board's memory.external; a model that fits neither is refused naming both limits. Pure arithmetic on
FitEstimate: nothing is compiled."""

import pytest

from edgeq.errors import EdgeqError
from edgeq.targets.boards import BOARDS_DIR, load_board
from edgeq.targets.fit import FitEstimate, check_fit

KIB = 1024


def _board(tmp_path, flash: int, external: int | None):
    """mps2-an386 with ``flash`` bytes of flash and ``external`` bytes of PSRAM (None: no memory.external)."""
    text = (BOARDS_DIR / "mps2-an386.toml").read_text().replace('name = "mps2-an386"', 'name = "an386-small"')
    text = text.replace("flash = { origin = 0x00000000, length = 0x00400000 }",
                        f"flash = {{ origin = 0x00000000, length = {flash:#x} }}")
    old = 'external = { origin = 0x21000000, length = 0x01000000, kind = "psram" }'
    assert old in text
    text = text.replace(old, "" if external is None else
                        f'external = {{ origin = 0x21000000, length = {external:#x}, kind = "psram" }}')
    p = tmp_path / "an386-small.toml"
    p.write_text(text)
    return load_board(p)


def _est(board, weights: int, code: int = 20 * KIB, arena: int = 10 * KIB) -> FitEstimate:
    return FitEstimate(board, weights_bytes=weights, code_bytes=code, harness_flash_bytes=2048, arena_bytes=arena,
                       stack_bytes=board.memory.stack_bytes, harness_ram_bytes=1024)


def test_weights_stay_in_flash_when_the_image_fits(tmp_path):
    est = check_fit(_est(_board(tmp_path, 256 * KIB, 1024 * KIB), weights=200 * KIB))
    assert not est.weights_external and est.external_bytes == 0 and est.placement() == "flash"
    assert est.onchip_flash_bytes == est.flash_bytes == 200 * KIB + 20 * KIB + 2048


def test_weights_go_to_external_memory_when_flash_is_too_small(tmp_path):
    b = _board(tmp_path, 64 * KIB, 1024 * KIB)
    est = check_fit(_est(b, weights=200 * KIB))
    assert est.weights_external and est.placement() == "external psram"
    assert est.external_bytes == 200 * KIB and est.external_limit == 1024 * KIB
    assert est.onchip_flash_bytes == 20 * KIB + 2048 <= est.flash_limit
    j = est.to_json()
    assert (j["weights_in"], j["external_bytes"], j["external_limit"]) == ("external psram", 200 * KIB, 1024 * KIB)


def test_too_big_for_both_names_both_limits(tmp_path):
    b = _board(tmp_path, 64 * KIB, 128 * KIB)
    est = _est(b, weights=200 * KIB)
    assert est.weights_external and not est.fits
    with pytest.raises(EdgeqError) as ei:
        check_fit(est, what="big")
    text = ei.value.format()
    assert f"an386-small has {64 * KIB:,}" in text  # the flash limit
    assert f"external psram (memory.external): the constant data, {200 * KIB:,} bytes, does not fit its " \
           f"{128 * KIB:,} ({72 * KIB:,} over)" in text


def test_code_too_big_for_flash_even_with_external_weights(tmp_path):
    est = _est(_board(tmp_path, 64 * KIB, 1024 * KIB), weights=200 * KIB, code=80 * KIB)
    with pytest.raises(EdgeqError) as ei:
        check_fit(est)
    assert f"would fit its {1024 * KIB:,}, but the rest, {80 * KIB + 2048:,} bytes, does not fit flash" \
        in ei.value.format()


def test_no_external_region_means_flash_only(tmp_path):
    est = _est(_board(tmp_path, 64 * KIB, None), weights=200 * KIB)
    assert not est.weights_external and est.external_limit == 0 and not est.fits
    with pytest.raises(EdgeqError) as ei:
        check_fit(est)
    assert "external" not in " ".join(ei.value.detail)
