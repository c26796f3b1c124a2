// The review card's rule ticks (templates/reviews/_card_rules.html): a ticked checkbox
// gives the focus back to the card, so the label keys (1…9) keep working; the review
// keys ignore key presses while an input has the focus.
(function () {
  if (window.qrelayCardRules) return; // the card is swapped in again with every task
  window.qrelayCardRules = true;
  document.addEventListener("change", function (event) {
    const box = event.target;
    if (box instanceof HTMLInputElement && box.name === "applied_rules" && box.closest("[data-card-rules]")) {
      box.blur();
    }
  });
})();
