// recall dashboard: CSRF header on htmx requests, and uPlot charts from data attributes.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) { event.detail.headers["X-CSRF-Token"] = meta.content; }
});

// Every live chart, so one can be destroyed before htmx swaps its element out: a uPlot that
// is only removed from the page keeps its window listeners, and with them itself, alive
// (a page left open on an operations screen would pile up a plot every refresh).
var liveCharts = [];

function destroyCharts(root) {
  liveCharts = liveCharts.filter(function (chart) {
    if (root.contains(chart.el)) { chart.plot.destroy(); return false; }
    return true;
  });
}

function drawCharts(root) {
  if (typeof uPlot === "undefined") { return; }
  destroyCharts(root);
  root.querySelectorAll("[data-chart]").forEach(function (el) {
    var spec = JSON.parse(el.getAttribute("data-chart"));
    el.innerHTML = "";
    if (!spec.x.length) { el.textContent = "No data yet."; return; }
    var series = [{}].concat(spec.series.map(function (s) {
      return { label: s.label, stroke: s.color, width: 2,
               value: function (u, v) { return v == null ? "–" : (s.percent ? (v * 100).toFixed(1) + "%" : v); } };
    }));
    var opts = { width: Math.max(el.clientWidth, 260), height: 220, series: series,
                 scales: spec.percent ? { y: { range: [0, 1] } } : {},
                 axes: [{}, { values: function (u, ticks) {
                   return ticks.map(function (t) { return spec.percent ? Math.round(t * 100) + "%" : t; });
                 } }] };
    var plot = new uPlot(opts, [spec.x].concat(spec.series.map(function (s) { return s.data; })), el);
    liveCharts.push({ el: el, plot: plot });
  });
}
document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
document.addEventListener("htmx:beforeSwap", function (event) { destroyCharts(event.detail.target); });
document.addEventListener("htmx:afterSwap", function (event) { drawCharts(event.detail.target); });

// Forms that ask first (data-confirm): the page's security policy allows no inline handlers.
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) { event.preventDefault(); }
});
