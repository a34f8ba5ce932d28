"""Fine rate control for HEVC-intra that stays BPG: the QP axis in sixteenths, through a flat scaling list.

A single intra frame at constant QP can only reach the rates of the 52 slice QPs, about 10 %
apart in bpp, so a 1 % tolerance is missed on most images (``coarse-axis``). HEVC's quantiser
step is ``Qstep(QP) · m / 16`` for a scaling-list entry ``m`` (H.265 §8.6.4.2; ``Qstep`` doubles
every 6 QP), so a flat list ``m = 128`` at slice QP ``q − 18`` quantises exactly as QP ``q`` with
no list, and ``m = 129 … 143`` reach the steps between QP ``q`` and ``q + 1`` (effective QP
``q + 6·log2(m / 128)``, sixteenths of a step to within 0.03 QP: about 0.7 % apart in bpp). The
setting counts sixteenths of a QP; the sixteenth ``i`` of QP ``q`` is ``m = 128 + i``.

What a slice QP drives besides the quantiser is moved towards the effective QP, so the encoder
decides as it would at that QP:

- x265's rate–distortion λ tables (``lambda-file``: x265's own formulas, λ = 2^(QP/6 − 2) and
  λ² = 0.038·e^(0.234·QP), evaluated at the effective QP; written at the defaults they give
  byte-identical streams);
- the deblocking filter, whose strength the decoder reads from the slice QP: ``deblock=6,6``
  signals ``slice_beta_offset_div2 = slice_tc_offset_div2 = 6``, +12 QP in both tables, the
  most the syntax allows (6 QP short of the shift). Measured on kodim05 at QP 26, 34 and 40, QP
  ``q`` with no list and ``16q`` here land within 0.5 % in rate and 0.02 dB in PSNR (with the list at ``q − 12``, which
  the deblocking offset matches exactly, the same: the missing 6 QP of deblocking do not show).

Everything else is BPG's configuration (:class:`~evalkit.codecs.hevc.HEVCIntra`). The list costs
about 40 bytes in the SPS (later lists are predicted from the first of their size).
``tests/test_codecs.py`` checks the equivalence on crops; ``bench/hevc_fine_rate.py`` measures
the share of Kodak points within 1 % and the BD-rate against integer QP. Below QP 18 (above
~3 bpp on Kodak) the slice QP stays 0 and the list rises from 16 to 127, so neighbouring
sixteenths may coincide there.

x265 reads the list file as HM does (``scaling-list``; sizes 4×4 to 32×32, intra and inter,
luma and chroma, DC values for 16×16 and 32×32), in the order x265 3.5 (Debian 12) and 4.x
(imageio-ffmpeg) both accept.
"""

from __future__ import annotations

import math
from pathlib import Path

from .base import Axis
from .hevc import HEVCIntra

STEPS = 16  # settings per QP
_SHIFT = 18  # slice QP below the effective one; the list scales by 2^(18/6) = 8
_FLAT = 16  # the list entry that leaves the step as it is
_MAX_QP = 51
_DEBLOCK_MAX = 6  # slice_beta/tc_offset_div2 range: −6…6
_LAMBDA_ENTRIES = 70  # x265's QP_MAX_MAX + 1 for 8-bit


def quantiser(setting: int) -> tuple[int, int]:
    """(slice QP, flat scaling-list entry) of the setting ``setting`` (sixteenths of a QP)."""
    qp, step = divmod(int(setting), STEPS)
    if qp >= _SHIFT:
        return qp - _SHIFT, 8 * _FLAT + step
    return 0, round(_FLAT * 2 ** (setting / STEPS / 6))


def effective_qp(slice_qp: int, entry: int) -> float:
    """The QP with no list whose step equals ``slice_qp`` with a flat list of ``entry``."""
    return slice_qp + 6 * math.log2(entry / _FLAT)


def scaling_list_text(entry: int) -> str:
    """A flat list of ``entry`` everywhere, as an HM/x265 scaling-list file."""
    lines = []
    for size, count in (("4X4", 16), ("8X8", 64), ("16X16", 64), ("32X32", 64)):
        for kind in ("INTRA", "INTER"):
            for component in ("LUMA",) if size == "32X32" else ("LUMA", "CHROMAU", "CHROMAV"):
                lines += [f"{kind}{size}_{component} =", ",".join([str(entry)] * count)]
                if size in ("16X16", "32X32"):
                    lines += [f"{kind}{size}_{component}_DC =", str(entry)]
    return "\n".join(lines) + "\n"


def lambda_text(offset: float) -> str:
    """x265's λ and λ² tables (its defaults' formulas) shifted by ``offset`` QP, for ``lambda-file``."""
    qps = [qp + offset for qp in range(_LAMBDA_ENTRIES)]
    lam = [2 ** (q / 6 - 2) for q in qps]
    lam2 = [0.038 * math.exp(0.234 * q) for q in qps]
    return "\n".join(", ".join(f"{v:.8g}" for v in table) for table in (lam, lam2)) + "\n"


class HEVCIntraFine(HEVCIntra):
    """HEVC-intra as BPG configures x265, its QP in sixteenths (0–816: QP 0–51): see the module
    docstring. ``hevc-bpg-qp`` is the integer-QP form, for reproducing BPG's own ladder."""

    family = "hevc-fine"
    axis = Axis("qp_16ths", 0, _MAX_QP * STEPS, integer=True, increasing=False)

    def x265_params(self, setting: float, folder: Path) -> str:
        slice_qp, entry = quantiser(int(setting))
        offset = effective_qp(slice_qp, entry) - slice_qp
        scaling, lambdas = folder / "scaling.txt", folder / "lambda.txt"
        scaling.write_text(scaling_list_text(entry))
        lambdas.write_text(lambda_text(offset))
        deblock = min(round(offset / 2), _DEBLOCK_MAX)
        return ":".join(
            [
                self.bpg_params(slice_qp),
                f"scaling-list={scaling}",
                f"lambda-file={lambdas}",
                f"deblock={deblock},{deblock}",
            ]
        )
