// Page-wide htmx behaviour, as a static file: the Content-Security-Policy allows no inline
// script and no eval, so no hx-on attributes.
(function () {
  "use strict";

  // htmx swaps only 2xx answers. A container marked data-swap-statuses="400 409" also
  // shows those answers in place: they carry the form's errors or the conflict explained.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = event.target instanceof Element ? event.target : null;
    var host = source && source.closest("[data-swap-statuses]");
    if (!host) return;
    var statuses = host.getAttribute("data-swap-statuses").split(/\s+/);
    if (statuses.indexOf(String(event.detail.xhr.status)) !== -1) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // A request whose session ended (401) or whose CSRF token went stale (403) answers with
  // a fragment marked X-Qrelay-Session (config/session_problems.py): show it in place of
  // the target's content, instead of htmx's silence on an error status.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.getResponseHeader("X-Qrelay-Session")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // A table wider than its wrapper scrolls sideways: the wrapper becomes a named region
  // the keyboard can reach (Tab to it, then arrow keys scroll). Checked on load, after
  // every htmx swap and on resize, as the width decides whether it scrolls.
  function reachableTables() {
    document.querySelectorAll(".table-wrap:not([tabindex])").forEach(function (wrap) {
      if (wrap.scrollWidth <= wrap.clientWidth + 1) return;
      wrap.setAttribute("tabindex", "0");
      if (!wrap.hasAttribute("role")) wrap.setAttribute("role", "region");
      if (!wrap.hasAttribute("aria-label") && !wrap.hasAttribute("aria-labelledby")) {
        var heading = wrap.querySelector("caption, h2, h3") || wrap.previousElementSibling;
        var name = heading && heading.textContent.trim();
        wrap.setAttribute("aria-label", name ? name.slice(0, 80) : "Scrollable table");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", reachableTables);
  document.addEventListener("htmx:load", reachableTables);
  var resizeTimer = 0;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(reachableTables, 150);
  });
})();
