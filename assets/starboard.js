/* Sets <body data-sb-ready="1"> once the page shell is drawn and every Plotly chart on it
   has its SVG: the signal browser tests and bench/page_load.py wait for. */
(function () {
  function ready() {
    var page = document.querySelector(".sb-page");
    if (!page) { return false; }
    var graphs = document.querySelectorAll(".js-plotly-plot, .dash-graph");
    for (var i = 0; i < graphs.length; i++) {
      if (!graphs[i].querySelector(".main-svg")) { return false; }
    }
    return true;
  }
  function check() {
    if (ready()) {
      if (document.body.dataset.sbReady !== "1") {
        document.body.dataset.sbReady = "1";
        if (window.performance && performance.mark) { performance.mark("sb-ready"); }
      }
    } else if (document.body) {
      delete document.body.dataset.sbReady;
    }
  }
  new MutationObserver(check).observe(document.documentElement, {childList: true, subtree: true});
  document.addEventListener("DOMContentLoaded", check);
})();

/* Grid cells of `format: duration` metrics (seconds), written as the tiles write them
   (components/formatting.py _duration): "45.5s", "2m 05s", "3h 20m", "2d 04h"; missing "—". */
(function () {
  var fns = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  fns.sbDuration = function (value, scale) {
    if (value === null || value === undefined || !isFinite(value)) { return "—"; }
    var sign = value < 0 ? "\u2212" : "";
    var s = Math.abs(value) * (scale || 1);  // scale: seconds per unit (60 for minutes)
    if (s < 59.95) { return sign + String(Math.round(s * 10) / 10) + "s"; }
    var total = Math.round(s);
    if (total < 3600) { return sign + Math.floor(total / 60) + "m " + pad(total % 60) + "s"; }
    var minutes = Math.round(s / 60);
    if (total < 86400 && minutes < 1440) {
      return sign + Math.floor(minutes / 60) + "h " + pad(minutes % 60) + "m";
    }
    var hours = Math.round(s / 3600);
    return sign + Math.floor(hours / 24) + "d " + pad(hours % 24) + "h";
  };
})();
