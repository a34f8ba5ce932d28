"""Human 2AFC studies: a study file, its trial design at matched bpp, storage that loses no
answer, and the analysis of what raters said. The web app (``webapp``) calls into this package
for everything that is not HTTP."""
