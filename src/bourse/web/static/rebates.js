// The broker's daily rebates: one histogram per asset, drawn by the vendored
// lightweight-charts from the numbers the page already holds (data-points). Without
// JavaScript the table under the charts says the same.
(function () {
  "use strict";
  function draw(el) {
    var points = JSON.parse(el.getAttribute("data-points") || "[]");
    var chart = LightweightCharts.createChart(el, {
      height: 220, autoSize: true, layout: { attributionLogo: false },
    });
    var series = chart.addSeries(LightweightCharts.HistogramSeries, {
      priceFormat: { type: "price", precision: 8, minMove: 0.00000001 },
      title: el.getAttribute("data-asset"),
    });
    // amounts as numbers for drawing only: nothing is computed from them
    series.setData(points.map(function (p) { return { time: p[0], value: +p[1] }; }));
    chart.timeScale().fitContent();
    el.setAttribute("data-drawn", String(points.length));
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".rebate-chart[data-points]").forEach(draw);
  });
})();
