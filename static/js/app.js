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
})();
