// Small helpers for pages; everything else is htmx. Every page works
// without this file; it adds drag and drop, pickers and uploads.
(function () {
  "use strict";
  function csrf() {
    var b = document.body.getAttribute("hx-headers");
    try { return JSON.parse(b)["X-CSRF-Token"] || ""; } catch (e) { return ""; }
  }
  document.addEventListener("click", function (e) {
    // Copy buttons: <button data-copy="#id">.
    var btn = e.target.closest("[data-copy]");
    if (btn) {
      var el = document.querySelector(btn.getAttribute("data-copy"));
      if (el && navigator.clipboard) {
        navigator.clipboard.writeText(el.textContent.trim()).then(function () {
          btn.textContent = btn.getAttribute("data-copied") || "✓";
        });
      }
      return;
    }
    // Record pickers: a result sets the hidden id and the visible name.
    var pick = e.target.closest("button[data-pick]");
    if (pick) {
      var id = pick.getAttribute("data-pick");
      var hidden = document.querySelector("[data-pick-value='" + id + "']");
      var shown = document.getElementById(id);
      if (hidden) hidden.value = pick.getAttribute("data-id");
      if (shown) { shown.value = pick.getAttribute("data-label"); shown.focus(); }
      var box = document.getElementById(id + "-pick");
      if (box) box.innerHTML = "";
      return;
    }
    // Closing the global search results when clicking elsewhere.
    var results = document.getElementById("global-results");
    if (results && !e.target.closest(".global-search")) results.innerHTML = "";
  });
  document.addEventListener("change", function (e) {
    var t = e.target;
    // "Select all" for a list's checkboxes.
    if (t.matches("[data-check-all]")) {
      var name = t.getAttribute("data-check-all");
      document.querySelectorAll("input[type=checkbox][name='" + name + "']").forEach(function (c) { c.checked = t.checked; });
    }
    // A select whose options are addresses.
    if (t.matches("[data-nav-select]")) {
      window.location.href = t.value;
    }
    // Attachments: the file is the request body.
    if (t.matches("input[type=file][data-upload]") && t.files.length) {
      var f = t.files[0];
      var url = t.getAttribute("data-upload") + "&name=" + encodeURIComponent(f.name);
      fetch(url, { method: "POST", body: f, credentials: "same-origin", headers: { "X-CSRF-Token": t.getAttribute("data-csrf") || csrf() } })
        .then(function (r) {
          if (r.ok) { window.location.reload(); return; }
          if (r.status === 413) { window.alert(t.getAttribute("data-too-large")); t.value = ""; return; }
          return r.text().then(function (body) {
            var msg = String(r.status);
            try { msg = JSON.parse(body).message || msg; } catch (e) { /* not JSON */ }
            window.alert(t.getAttribute("data-failed") + ": " + msg);
            t.value = "";
          });
        }, function () { window.alert(t.getAttribute("data-failed")); });
    }
  });
  // Editing a picker's text forgets the chosen record until one is picked again.
  document.addEventListener("input", function (e) {
    var t = e.target;
    if (!t.id) return;
    var hidden = document.querySelector("[data-pick-value='" + t.id + "']");
    if (hidden) hidden.value = "";
  });
  // A pool's checkboxes belong to both the claim and the assign form.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.id) return;
    document.querySelectorAll("input[data-also-form='" + form.id + "']:checked").forEach(function (c) {
      var h = document.createElement("input");
      h.type = "hidden"; h.name = c.name; h.value = c.value;
      form.appendChild(h);
    });
  }, true);
  // The pipeline board: drag a card onto another stage.
  var dragged = null;
  document.addEventListener("dragstart", function (e) {
    var card = e.target.closest && e.target.closest(".board-card");
    if (!card) return;
    dragged = card;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.getAttribute("data-card-id"));
    card.classList.add("dragging");
  });
  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    document.querySelectorAll(".board-col.over").forEach(function (c) { c.classList.remove("over"); });
  });
  document.addEventListener("dragover", function (e) {
    var col = e.target.closest && e.target.closest(".board-col");
    if (!col || !dragged) return;
    e.preventDefault();
    col.classList.add("over");
  });
  document.addEventListener("dragleave", function (e) {
    var col = e.target.closest && e.target.closest(".board-col");
    if (col && !col.contains(e.relatedTarget)) col.classList.remove("over");
  });
  document.addEventListener("drop", function (e) {
    var col = e.target.closest && e.target.closest(".board-col");
    if (!col || !dragged) return;
    e.preventDefault();
    var board = col.closest("[data-board]");
    var card = dragged;
    dragged = null;
    if (card.closest(".board-col") === col) return;
    col.appendChild(card);
    fetch("/api/v1/opportunities/" + card.getAttribute("data-card-id") + "/stage", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": board.getAttribute("data-csrf") || csrf() },
      body: JSON.stringify({ version: parseInt(card.getAttribute("data-version"), 10), stage_id: parseInt(col.getAttribute("data-stage-id"), 10) })
    }).then(function (r) {
      if (!r.ok) window.alert(board.getAttribute("data-failed"));
      window.location.reload();
    });
  });
})();
