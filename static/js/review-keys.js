// The review page's keyboard and small interactions (templates/reviews/review.html).
// Every listener sits on document, so it keeps working when htmx swaps in the next card.
(function () {
  "use strict";

  function card() {
    return document.getElementById("review-card");
  }

  function isTyping(target) {
    return target instanceof Element && (target.isContentEditable || target.closest("input, textarea, select") !== null);
  }

  // Click the card's control bound to `key` (data-key): label buttons 1..n, s, u, n.
  function press(key) {
    const root = card();
    const control = root && root.querySelector('[data-key="' + CSS.escape(key) + '"]');
    if (!control || control.disabled) return false;
    control.click();
    return true;
  }

  // Time on a card runs from the moment it is settled in the page to the submit. Kept
  // in a variable: htmx's settle step resets the attributes of an element whose id
  // stays the same, so a data attribute on the card would not survive.
  let shownAt = 0;
  document.addEventListener("DOMContentLoaded", function () {
    shownAt = performance.now();
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target instanceof Element && event.target.id === "review-card") shownAt = performance.now();
  });

  document.addEventListener("htmx:configRequest", function (event) {
    const elt = event.detail.elt;
    if (!(elt instanceof Element) || !elt.matches("[data-decision]") || !shownAt) return;
    event.detail.parameters.time_spent_ms = String(Math.round(performance.now() - shownAt));
  });

  // A stale submit (409) or a refused one (400) answers with a problem card: show it
  // instead of leaving a card whose task is no longer the user's.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const status = event.detail.xhr.status;
    const target = event.detail.target;
    if ((status === 400 || status === 409) && target && target.id === "review-card") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function toggleHelp() {
    const help = document.getElementById("review-help");
    if (!help) return;
    help.hidden = !help.hidden;
    document.querySelectorAll("[data-help-toggle]").forEach(function (button) {
      button.setAttribute("aria-expanded", String(!help.hidden));
    });
  }

  function toggleZoom(button) {
    const image = button.querySelector("img");
    if (image) image.classList.toggle("zoomed");
  }

  function closeAll() {
    document.querySelectorAll("#review-card img.zoomed").forEach(function (image) {
      image.classList.remove("zoomed");
    });
    const flag = card() && card().querySelector("[data-flag]");
    if (flag) flag.open = false;
  }

  document.addEventListener("click", function (event) {
    if (!(event.target instanceof Element)) return;
    const helpToggle = event.target.closest("[data-help-toggle]");
    if (helpToggle) {
      toggleHelp();
      return;
    }
    const zoom = event.target.closest("[data-zoom]");
    if (zoom) toggleZoom(zoom);
  });

  // Opening the flag form puts the cursor in its comment field.
  document.addEventListener(
    "toggle",
    function (event) {
      const details = event.target;
      if (details instanceof HTMLDetailsElement && details.matches("[data-flag]") && details.open) {
        const input = details.querySelector("input[name=comment]");
        if (input) input.focus();
      }
    },
    true
  );

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (!card()) return;
    if (isTyping(event.target)) {
      if (event.key === "Escape") {
        event.target.blur();
        closeAll();
      }
      return;
    }
    if (event.key === "Escape") {
      closeAll();
      return;
    }
    const key = event.key.length === 1 ? event.key.toLowerCase() : "";
    if (key === "?") {
      toggleHelp();
    } else if (key === "z") {
      const first = card().querySelector("[data-zoom]");
      if (!first) return;
      toggleZoom(first);
    } else if (key === "f") {
      const flag = card().querySelector("[data-flag]");
      if (!flag) return;
      flag.open = true;
    } else if (!/^[1-9sun]$/.test(key) || !press(key)) {
      return;
    }
    event.preventDefault();
  });
})();
