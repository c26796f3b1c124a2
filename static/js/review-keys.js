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
    if (event.target instanceof Element && event.target.id === "review-card") {
      shownAt = performance.now();
      announce();
      preloadNext();
    }
  });
  document.addEventListener("DOMContentLoaded", preloadNext);

  // A screen reader hears each new card: its query and product, or the card's heading.
  function announce() {
    const root = card();
    const region = document.getElementById("rv-announce");
    if (!root || !region) return;
    const query = root.querySelector(".rv-query-text");
    const product = root.querySelector(".rv-product-title");
    const heading = root.querySelector("h2");
    region.textContent = query
      ? "Next pair. Query: " + query.textContent.trim() + ". Product: " + (product ? product.textContent.trim() : "")
      : heading
        ? heading.textContent.trim()
        : "";
  }

  // The next pair's image is fetched while this one is judged, so it shows at once.
  function preloadNext() {
    const root = card();
    const url = root && root.dataset.nextImage;
    if (url) new Image().src = url;
  }

  document.addEventListener("htmx:configRequest", function (event) {
    const elt = event.detail.elt;
    if (!(elt instanceof Element) || !elt.matches("[data-decision]")) return;
    rememberPending(elt);
    if (shownAt) event.detail.parameters.time_spent_ms = String(Math.round(performance.now() - shownAt));
  });

  // The label just pressed is kept (per tab) until the server has answered the submit.
  // A submit that meets an ended session (401) or a stale token (403) leaves it here:
  // the card says it was not saved, and the review page sends it once after the login.
  const PENDING = "qrelay:pending-label";

  function storage() {
    try {
      return window.sessionStorage;
    } catch (error) {
      return null;
    }
  }

  function rememberPending(button) {
    const root = card();
    const store = storage();
    if (!root || !store) return;
    store.setItem(
      PENDING,
      JSON.stringify({ task: root.dataset.task, value: button.value, name: button.dataset.name, key: button.dataset.key })
    );
  }

  function readPending() {
    const store = storage();
    if (!store) return null;
    try {
      return JSON.parse(store.getItem(PENDING) || "null");
    } catch (error) {
      return null;
    }
  }

  function forgetPending() {
    const store = storage();
    if (store) store.removeItem(PENDING);
  }

  // Any answer but a session problem means the server decided about the label. Before
  // the swap: the swap replaces the card and the button with it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const config = event.detail.requestConfig;
    const elt = config && config.elt;
    const xhr = event.detail.xhr;
    if (!(elt instanceof Element) || !elt.matches("[data-decision]") || !xhr) return;
    if (!xhr.getResponseHeader("X-Qrelay-Session")) forgetPending();
  });

  function say(text) {
    const note = document.getElementById("rv-session-note");
    if (!note) return;
    note.textContent = text;
    note.hidden = !text;
  }

  // The session-problem card names the label that was not saved.
  document.addEventListener("htmx:afterSwap", function (event) {
    const root = card();
    const note = root && root.querySelector("[data-pending-note]");
    if (!note) return;
    const pending = readPending();
    note.textContent = pending
      ? "Your label “" + pending.name + "” (key " + pending.key + ") was NOT saved. It is sent once you are back."
      : "Your last label was NOT saved: press it again once you are back.";
    note.hidden = false;
  });

  // Back on the review page after the login: send the kept label once, if the card is
  // still the same task; otherwise say plainly that it was not saved.
  function replayPending() {
    const pending = readPending();
    const root = card();
    if (!pending || !root) return;
    forgetPending();
    const button = root.dataset.task === pending.task && root.querySelector('[data-decision][value="' + CSS.escape(String(pending.value)) + '"]');
    if (button) {
      say("Your label “" + pending.name + "” from before the login was sent.");
      button.click();
    } else {
      say("Your label “" + pending.name + "” from before the login was not saved: that pair is no longer yours.");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    // After htmx has processed the page (its own DOMContentLoaded handler runs first).
    window.setTimeout(replayPending, 0);
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
