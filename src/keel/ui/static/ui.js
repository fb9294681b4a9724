// Keel UI: the little interactivity pages need. Everything works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Compare: the button is enabled once two runs are ticked.
  var form = document.getElementById("compare-form");
  if (form) {
    var button = document.getElementById("compare-button");
    var update = function () {
      var ticked = form.querySelectorAll('input[name="run"]:checked').length;
      button.disabled = ticked < 2;
      button.textContent = ticked >= 2 ? "Compare " + ticked + " runs" : "Compare selected";
    };
    form.addEventListener("change", update);
    update();
  }
  // Param diff: show only the rows that differ.
  document.querySelectorAll("input[data-toggle-rows]").forEach(function (box) {
    var cls = box.getAttribute("data-toggle-rows");
    var apply = function () {
      document.querySelectorAll("tr." + cls).forEach(function (row) {
        row.hidden = box.checked;
      });
    };
    box.addEventListener("change", apply);
    apply();
  });
  // Forms marked data-json are posted as JSON (servers may refuse form posts); the answer
  // replaces the page, as a plain form post would.
  document.querySelectorAll("form[data-json]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var fields = {};
      new FormData(form).forEach(function (value, key) { fields[key] = String(value); });
      fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": fields.csrf || "" },
        body: JSON.stringify(fields)
      }).then(function (response) {
        if (response.ok) {
          window.location.assign(response.url);
          return null;
        }
        return response.text().then(function (html) {
          document.open();
          document.write(html);
          document.close();
        });
      }).catch(function (err) {
        window.alert("The request failed: " + err);
      });
    });
  });
  // Charts: highlight one series when its line is hovered.
  document.querySelectorAll("svg.chart polyline").forEach(function (line) {
    line.addEventListener("mouseenter", function () { line.setAttribute("stroke-width", "3"); });
    line.addEventListener("mouseleave", function () { line.setAttribute("stroke-width", "1.6"); });
  });
});
