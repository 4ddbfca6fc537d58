// The import page's progress bar: asks the server where the check or the import stands every
// second, and reloads the page (preview, report, result) once it has ended.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box || box.dataset.running !== "true") {
    return;
  }
  var bar = box.querySelector("progress");
  var label = box.querySelector(".import-progress-label");
  var status = box.dataset.status;
  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (!state) {
          return;
        }
        bar.max = 100;
        bar.value = state.percent;
        bar.textContent = state.percent + "%";
        label.textContent = state.status_label + " " + state.percent + "%";
        if (!state.running || state.status !== status) {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
