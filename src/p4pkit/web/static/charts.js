// Draws every Vega-Lite spec embedded in the page as <script type="application/json" class="vega-spec">.
// Kept out of the HTML so the Content-Security-Policy can forbid inline scripts.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("script.vega-spec").forEach(function (node) {
    var target = document.getElementById(node.dataset.target);
    if (target && window.vegaEmbed) {
      window.vegaEmbed(target, JSON.parse(node.textContent), { actions: false, renderer: "canvas" })
        .then(function () { target.dataset.rendered = "true"; })
        .catch(function (error) { target.textContent = "Chart unavailable: " + error; });
    }
  });
});
