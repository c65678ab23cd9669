/* Pan and zoom for the server-drawn lineage graph (no library): drag or arrow keys to pan, wheel
 * or +/- to zoom around the pointer, 0 or "Fit" for the whole graph. Nodes are plain SVG links,
 * so a click (that is not the end of a drag) goes to the node. We move the SVG's viewBox. */
(function () {
  "use strict";
  function init() {
    var svg = document.getElementById("lineage-graph");
    if (!svg) { return; }
    var wrap = document.getElementById("graph-wrap");
    var W = parseFloat(svg.dataset.width), H = parseFloat(svg.dataset.height);
    wrap.classList.add("js-graph");
    svg.removeAttribute("width"); svg.removeAttribute("height");
    var box = { x: 0, y: 0, w: W, h: H };

    function apply() { svg.setAttribute("viewBox", box.x + " " + box.y + " " + box.w + " " + box.h); }
    function fit() {
      // The whole graph, but never magnified beyond 1:1 (a small graph stays at its drawn size).
      var r = svg.getBoundingClientRect();
      var w = Math.max(W, r.width || W), h = Math.max(H, r.height || H);
      box = { x: (W - w) / 2, y: (H - h) / 2, w: w, h: h }; apply();
    }
    function toSvg(clientX, clientY) {
      var pt = svg.createSVGPoint(); pt.x = clientX; pt.y = clientY;
      return pt.matrixTransform(svg.getScreenCTM().inverse());
    }
    function zoom(factor, cx, cy) {
      // Keep the point under (cx, cy) in place; stay between 5% and 8x of the whole graph.
      var nw = Math.min(Math.max(box.w * factor, 40), Math.max(W, H) * 8);
      var f = nw / box.w;
      box.x = cx - (cx - box.x) * f; box.y = cy - (cy - box.y) * f;
      box.w *= f; box.h *= f; apply();
    }
    function centre() { return { x: box.x + box.w / 2, y: box.y + box.h / 2 }; }

    // Start with the whole graph (nothing clipped at either end) whenever its labels stay readable
    // (scale >= MIN_FIT: 14 px labels >= 8 px); only a larger graph starts at 1:1 around the focus.
    var MIN_FIT = 0.58;
    var rect = svg.getBoundingClientRect();
    var focus = svg.querySelector(".node.focus");
    if (focus && Math.min(rect.width / W, rect.height / H) < MIN_FIT) {
      var m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(focus.getAttribute("transform"));
      var fx = parseFloat(m[1]) + 90, fy = parseFloat(m[2]) + 19;  // the node's centre (180 x 38)
      box = { w: rect.width, h: rect.height, x: fx - rect.width / 2, y: fy - rect.height / 2 };
      apply();
    } else { fit(); }

    svg.addEventListener("wheel", function (e) {
      e.preventDefault();
      var p = toSvg(e.clientX, e.clientY);
      zoom(e.deltaY > 0 ? 1.15 : 1 / 1.15, p.x, p.y);
    }, { passive: false });

    var drag = null, moved = false;
    svg.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) { return; }
      drag = { x: e.clientX, y: e.clientY, box: { x: box.x, y: box.y, w: box.w, h: box.h } };
      moved = false;
    });
    svg.addEventListener("pointermove", function (e) {
      if (!drag) { return; }
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (!moved && Math.abs(dx) + Math.abs(dy) < 5) { return; }
      if (!moved) { moved = true; svg.classList.add("panning"); svg.setPointerCapture(e.pointerId); }
      var scale = drag.box.w / svg.getBoundingClientRect().width;
      box.x = drag.box.x - dx * scale; box.y = drag.box.y - dy * scale; apply();
    });
    function end() { drag = null; svg.classList.remove("panning"); }
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    // A drag that ends on a node is not a click on it.
    svg.addEventListener("click", function (e) { if (moved) { e.preventDefault(); e.stopPropagation(); moved = false; } }, true);

    svg.addEventListener("keydown", function (e) {
      var step = 0.1, c = centre();
      if (e.key === "ArrowLeft") { box.x -= box.w * step; }
      else if (e.key === "ArrowRight") { box.x += box.w * step; }
      else if (e.key === "ArrowUp") { box.y -= box.h * step; }
      else if (e.key === "ArrowDown") { box.y += box.h * step; }
      else if (e.key === "+" || e.key === "=") { zoom(1 / 1.25, c.x, c.y); return e.preventDefault(); }
      else if (e.key === "-" || e.key === "_") { zoom(1.25, c.x, c.y); return e.preventDefault(); }
      else if (e.key === "0") { fit(); return e.preventDefault(); }
      else { return; }
      e.preventDefault(); apply();
    });
    wrap.querySelectorAll("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () {
        var c = centre(), z = b.dataset.zoom;
        if (z === "in") { zoom(1 / 1.25, c.x, c.y); } else if (z === "out") { zoom(1.25, c.x, c.y); } else { fit(); }
      });
    });
    svg.dataset.ready = "1";
    window.gvGraphReadyAt = performance.now();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
