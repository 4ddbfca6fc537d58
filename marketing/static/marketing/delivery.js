// The delivery page: the live count of the audience being typed, and the progress of a delivery
// being prepared or sent, read again every two seconds until it stops moving.
(function () {
  "use strict";
  const moving = new Set(["preparing", "sending", "scheduled"]);

  function audienceCount() {
    const box = document.getElementById("mc-audience-count");
    const field = document.getElementById("id_audience");
    if (!box || !field) return;
    let timer = null;
    const update = function () {
      const url = box.dataset.url + "?audience=" + encodeURIComponent(field.value);
      fetch(url, { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (body) {
          box.classList.toggle("mc-error", Boolean(body.errors));
          box.textContent = body.errors
            ? body.errors.join(" ")
            : interpolate(ngettext("The audience holds %s profile.", "The audience holds %s profiles.", body.count), [body.count]);
        });
    };
    field.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(update, 400);
    });
    update();
  }

  function progress() {
    const panel = document.getElementById("mc-progress");
    if (!panel || !moving.has(panel.dataset.status)) return;
    const poll = function () {
      fetch(panel.dataset.url, { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (body) {
          panel.querySelectorAll("[data-figure]").forEach(function (cell) {
            cell.textContent = body[cell.dataset.figure];
          });
          document.getElementById("mc-progress-bar").value = body.percent;
          document.getElementById("mc-progress-percent").textContent = body.percent + "%";
          if (moving.has(body.status)) {
            setTimeout(poll, 2000);
          } else if (body.status !== panel.dataset.status) {
            window.location.reload();  // the buttons change with the status
          }
        });
    };
    setTimeout(poll, 2000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    audienceCount();
    progress();
  });
})();
