"""The constants of ``pytorch_msssim``'s SSIM and MS-SSIM, and the smallest image side each
metric computed outside torch is defined on, without torch: what the registry declares is known
before a network or torch loads.
"""

#: Weights of the five MS-SSIM scales.
WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WIN_SIZE, WIN_SIGMA, K1, K2, DATA_RANGE = 11, 1.5, 0.01, 0.03, 255.0
C1, C2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
#: Four halvings must leave more than one window: both sides must exceed (11 − 1) · 2⁴ = 160.
MSSSIM_MIN_SIDE = (WIN_SIZE - 1) * 2 ** (len(WEIGHTS) - 1) + 1
#: One window must fit: both sides at least 11 px.
SSIM_MIN_SIDE = WIN_SIZE
#: libvmaf's feature windows: it crashes on pictures of 16 px a side.
VMAF_MIN_SIDE = 17
#: SSIMULACRA2 downscales by 2 until a side would fall under 8 px.
SSIMULACRA2_MIN_SIDE = 8
