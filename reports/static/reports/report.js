// Events by status over time (Chart.js, served from our static files). Each status has its own
// point shape and line dash besides its colour, and the legend names it: readable without colour.
(function () {
  "use strict";
  const source = document.getElementById("mc-status-chart-data");
  const canvas = document.getElementById("mc-status-chart");
  if (!source || !canvas || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const colours = ["#1b6e3a", "#6b6b6b", "#b3261e", "#7a4f01", "#174ea6", "#8e24aa"];
  const shapes = ["circle", "rect", "triangle", "crossRot", "star", "rectRot"];
  const dashes = [[], [6, 4], [2, 3], [10, 3, 2, 3], [1, 1], [12, 6]];
  data.datasets.forEach(function (dataset, index) {
    const i = index % colours.length;
    Object.assign(dataset, {
      borderColor: colours[i],
      backgroundColor: colours[i],
      pointStyle: shapes[i],
      pointRadius: 4,
      borderDash: dashes[i],
      borderWidth: 2,
      tension: 0,
    });
  });
  canvas.chart = new Chart(canvas, {
    type: "line",
    data: data,
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { labels: { usePointStyle: true } } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
  canvas.dataset.ready = "true";
})();
