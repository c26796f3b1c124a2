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
})();
