"""The constants of ``pytorch_msssim``'s SSIM and MS-SSIM, without torch: what the registry
declares (the smallest image side each is defined on) is known before a network or torch loads.
"""
#: Weights of the five MS-SSIM scales.
WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WIN_SIZE, WIN_SIGMA, K1, K2, DATA_RANGE = 11, 1.5, 0.01, 0.03, 255.0
C1, C2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
#: Four halvings must leave more than one window: both sides must exceed (11 − 1) · 2⁴ = 160.
MSSSIM_MIN_SIDE = (WIN_SIZE - 1) * 2 ** (len(WEIGHTS) - 1) + 1
#: One window must fit: both sides at least 11 px.
SSIM_MIN_SIDE = WIN_SIZE
