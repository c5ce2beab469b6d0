/* The overview's chart: runs (bars) and records changed (line) per hour, drawn with uPlot
   from the JSON the page carries in #activity-data. The same numbers are in the table under
   "Show as table", so nothing is lost without JavaScript or without this chart. */
(function () {
  "use strict";
  var plot = null;

  function size(box) {
    return { width: Math.max(280, box.clientWidth), height: window.innerWidth < 640 ? 200 : 260 };
  }

  function draw() {
    var box = document.getElementById("activity-chart");
    var source = document.getElementById("activity-data");
    if (!box || !source || typeof window.uPlot !== "function") return;
    var d = JSON.parse(source.textContent);
    var bars = window.uPlot.paths.bars({ size: [0.8, 24] });
    var upFrom0 = function (u, min, max) { return [0, Math.max(1, Math.ceil(max * 1.1))]; };
    var whole = function (u, values) {
      return values.map(function (v) { return Number.isInteger(v) ? v : ""; });
    };
    var opts = Object.assign(size(box), {
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true }, runs: { range: upFrom0 }, changes: { range: upFrom0 } },
      series: [
        {},
        { label: "Runs", scale: "runs", stroke: "#3b5bdb", fill: "rgba(59,91,219,.35)", paths: bars, points: { show: false } },
        { label: "Failed runs", scale: "runs", stroke: "#c92a2a", fill: "rgba(201,42,42,.6)", paths: bars, points: { show: false } },
        { label: "Changes", scale: "changes", stroke: "#2b8a3e", width: 2, points: { show: false } }
      ],
      axes: [
        {},
        { scale: "runs", label: "Runs", values: whole },
        { scale: "changes", label: "Changes", side: 1, grid: { show: false }, values: whole }
      ]
    });
    if (plot) plot.destroy();
    box.textContent = "";
    plot = new window.uPlot(opts, [d.t, d.runs, d.failed, d.changes], box);
    box.dataset.drawn = "true";
  }

  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      var box = document.getElementById("activity-chart");
      if (plot && box) plot.setSize(size(box));
    }, 150);
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
