// The flip layout (CLIC's protocol): reconstructions A and B share one place beside the original
// and Space (or a click on the image) toggles between them; the magnifier shows the side on
// screen. Counts the flips and how long each side was shown; task.js sends them with the answer.
"use strict";

const flip = { side: "left", flips: 0, since: 0, viewMs: { left: 0, right: 0 } };

function showSide(side) {
  for (const id of ["left", "right"]) {
    $(id).hidden = id !== side;
    $(`zoom-${id}`).hidden = id !== side;
  }
  $("flip-name").textContent = side === "left" ? "A" : "B";
  flip.side = side;
}

function toggle() {
  const now = performance.now();
  flip.viewMs[flip.side] += now - flip.since;
  flip.since = now;
  flip.flips += 1;
  showSide(flip.side === "left" ? "right" : "left");
}

state.onShow = () => {
  flip.flips = 0;
  flip.viewMs = { left: 0, right: 0 };
  flip.since = performance.now();
  showSide("left");
};

state.extra = () => {
  const shown = { ...flip.viewMs };
  shown[flip.side] += performance.now() - flip.since;
  return { flips: flip.flips, left_view_ms: shown.left, right_view_ms: shown.right };
};

document.addEventListener("keydown", (e) => {
  if ($("task").hidden || e.target.tagName === "TEXTAREA" || e.key !== " ") return;
  e.preventDefault();                       // no page scroll, no click on a focused button
  toggle();
});
for (const id of ["left", "right"]) $(id).addEventListener("click", toggle);
