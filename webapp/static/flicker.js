// The flicker layout (the flicker boosting of Men et al., "Subjective image quality assessment with
// boosted triplet comparisons", IEEE Access 2021, used by JPEG AIC-3): A and B stay beside the
// original and each alternates in place with the original, LAYOUT_SETTINGS.flicker_hz times a
// second, so that a difference shows as flicker; the magnifier flickers with them. Counts the
// cycles shown before the answer; task.js sends the count.
"use strict";

const flicker = { timer: null, sources: null, showingOriginal: false, cycles: 0 };

function flickerStep() {
  if ($("task").hidden) { clearInterval(flicker.timer); return; }
  flicker.showingOriginal = !flicker.showingOriginal;
  if (!flicker.showingOriginal) flicker.cycles += 1;        // back to A and B: one whole cycle
  for (const id of ["left", "right"]) {
    $(id).src = flicker.showingOriginal ? flicker.sources.reference : flicker.sources[id];
  }
  drawMagnifiers();
}

state.onShow = () => {
  clearInterval(flicker.timer);
  flicker.sources = { left: $("left").src, right: $("right").src, reference: $("reference").src };
  flicker.showingOriginal = false;
  flicker.cycles = 0;
  flicker.timer = setInterval(flickerStep, 500 / LAYOUT_SETTINGS.flicker_hz);   // two steps a cycle
};

state.extra = () => ({ flicker_cycles: flicker.cycles });
