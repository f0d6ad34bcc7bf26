// The trade page's price chart: 1-minute candles from the public klines endpoint, drawn by
// the vendored lightweight-charts. While livebook.js has the streams live it hands over the
// current candle (a "bourse:kline" event on the chart) and the chart is loaded again only when
// the stream (re)starts; otherwise it is refreshed every 5 s. Without JavaScript the page works
// as it is; the chart is the only thing missing.
(function () {
  "use strict";
  function draw(el) {
    var symbol = el.getAttribute("data-symbol");
    // attribution is the link under the chart (the logo would need an inline style)
    var chart = LightweightCharts.createChart(el, {
      height: 280, autoSize: true, layout: { attributionLogo: false },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
    var series = chart.addSeries(LightweightCharts.CandlestickSeries, {});
    var url = "/api/v3/klines?interval=1m&limit=300&symbol=" + encodeURIComponent(symbol);
    function load() {
      fetch(url, { credentials: "omit" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (rows) {
          // prices as numbers for drawing only: nothing is computed from them
          series.setData(rows.map(function (k) {
            return { time: k[0] / 1000, open: +k[1], high: +k[2], low: +k[3], close: +k[4] };
          }));
          el.setAttribute("data-candles", String(rows.length));
        })
        .catch(function () { /* the next refresh tries again */ });
    }
    load();
    var timer = setInterval(load, 5000);
    document.addEventListener("bourse:live", function (ev) {
      clearInterval(timer);
      timer = null;
      load();  // what the stream missed
      if (!ev.detail.live) timer = setInterval(load, 5000);
    });
    el.addEventListener("bourse:kline", function (ev) {
      try {
        series.update(ev.detail.bar);
        el.setAttribute("data-last-close", ev.detail.close);
      } catch (e) { /* a candle older than the last one drawn: the next load has it */ }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".chart[data-symbol]").forEach(draw);
  });
})();
