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
