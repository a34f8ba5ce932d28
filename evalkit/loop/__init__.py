"""``evalkit loop``: from people to a codec and back, as one resumable experiment.

A study of existing codecs (real raters, or a simulated crowd whose preference follows a known
metric) → screened judgements → a combined metric fitted on them (Patel et al.'s RANSAC fit,
held-out 2AFC reported) → two codecs fine-tuned from one base, on the base's MSE loss and on the
fitted metric → a second study of those two at matched bpp → a report that answers "does
training on what people prefer make a codec people prefer?" with the second study's intervals.
The experiment file is :mod:`.experiment`; the stages and their caching are :mod:`.stages`.
"""

from .experiment import Experiment, load_experiment
from .stages import QUESTION, WaitingForPeople, run_loop

__all__ = ["QUESTION", "Experiment", "WaitingForPeople", "load_experiment", "run_loop"]
