"""The DSP conv kernel with s4_pairs > 0 (firmware/kernels/conv.c conv_dsp) gathers the windows of a group of
pixel pairs before writing any of their outputs: its read/write order, replayed as test_overlap.py replays
the other window kernels, is safe at the conv's overlap margin (the planner may place the output below
its input whichever s4_pairs the scratch pass picks)."""

from hypothesis import given, settings, strategies as st

from edgeq.passes.lower.geometry import raster_overlap_margin
from test_overlap import Trace, _safe_from, _windows, geometries


def trace_conv_dsp_groups(geo, in_c, out_c, pairs) -> Trace:
    """conv_dsp: per group of `pairs` pixel pairs, every pair's two windows (all valid taps, every channel;
    an odd last pixel gathered twice), then per channel pair (oc1 then oc) the outputs of pair after pair,
    pixel b before pixel a."""
    wins = dict(_windows(geo))
    npix = len(wins)
    tr = Trace(geo["batches"] * geo["in_h"] * geo["in_w"] * in_c, npix * out_c)
    for pix in range(0, npix, 2 * pairs):
        group = [(pa, pa + 1 if pa + 1 < npix else pa) for pa in range(pix, min(pix + 2 * pairs, npix), 2)]
        for pa, pb in group:
            for p in (pa, pb):
                for q in wins[p]:
                    tr.read(q * in_c, in_c)
        for oc in range(0, out_c, 2):
            oc1 = oc + 1 if oc + 1 < out_c else oc
            for pa, pb in group:
                for c in (oc1, oc):
                    tr.write(pb * out_c + c)
                    tr.write(pa * out_c + c)
    return tr


@settings(max_examples=60, deadline=None)
@given(geometries(), st.integers(1, 6), st.integers(1, 6), st.sampled_from([1, 3, 8]))
def test_grouped_conv_dsp_margin_is_safe(geo, in_c, out_c, pairs):
    m = raster_overlap_margin(geo, in_c, out_c)
    assert _safe_from(trace_conv_dsp_groups(geo, in_c, out_c, pairs), m)
