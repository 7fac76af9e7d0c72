// Small helpers for pages; everything else is htmx.
(function () {
  "use strict";
  // Copy buttons: <button data-copy="#id">.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-copy]");
    if (!btn) return;
    var el = document.querySelector(btn.getAttribute("data-copy"));
    if (el && navigator.clipboard) {
      navigator.clipboard.writeText(el.textContent.trim()).then(function () {
        btn.textContent = btn.getAttribute("data-copied") || "✓";
      });
    }
  });
})();
