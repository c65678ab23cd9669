/* Gouvernail's own script. Pages work without it; it adds the upload progress bar.
 * htmx (from the django-htmx package) does the partial updates. */
(function () {
  "use strict";

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /* Upload a version through the API with XMLHttpRequest, whose upload.onprogress lets us draw
   * a real progress bar; then poll the profile status partial until profiling has finished. */
  function enhanceUpload(form) {
    var bar = form.querySelector("#upload-bar");
    var label = form.querySelector("#upload-label");
    var box = form.querySelector("#upload-progress");
    var error = form.querySelector("#upload-error");
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      var input = form.querySelector("input[type=file]");
      if (!input.files.length) { return; }  // let the browser say the field is required
      event.preventDefault();
      var data = new FormData();
      data.append("file", input.files[0]);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.apiUrl);
      xhr.setRequestHeader("X-CSRFToken", csrfToken(form));
      xhr.setRequestHeader("Accept", "application/json");
      box.hidden = false; error.hidden = true; button.disabled = true;
      bar.value = 0; label.textContent = "Uploading… 0%";
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) {
          var pct = Math.round((e.loaded / e.total) * 100);
          bar.value = pct;
          label.textContent = "Uploading… " + pct + "%";
        }
      };
      xhr.onload = function () {
        button.disabled = false;
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status === 201 || xhr.status === 200) {
          bar.value = 100;
          label.textContent = xhr.status === 201
            ? "Stored as version " + body.number + "."
            : "Same bytes as version " + body.number + ": nothing new stored.";
          input.value = "";
          document.body.dispatchEvent(new CustomEvent("version-added"));
          if (form.dataset.statusUrl && window.htmx) {
            // polling=1: even if profiling is already over, say so and let the panels refresh.
            htmx.ajax("GET", form.dataset.statusUrl + "?polling=1", { target: "#profile-status", swap: "innerHTML" });
          }
        } else {
          box.hidden = true;
          error.hidden = false;
          error.textContent = "Upload refused: " + (body.detail || ("error " + xhr.status));
        }
      };
      xhr.onerror = function () {
        button.disabled = false; box.hidden = true; error.hidden = false;
        error.textContent = "The upload failed: the connection was lost.";
      };
      xhr.send(data);
    });
  }

  /* htmx 2 swaps no 4xx answer. A form marked data-swap-invalid answers an invalid POST from htmx
   * with 422 and itself re-rendered, errors beside the fields: swap that in like a success. */
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (event.detail.xhr.status === 422 && elt && elt.closest && elt.closest("[data-swap-invalid]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  /* A column row swapped in place keeps the keyboard where the person is: its first field when the
   * editor opens, its Edit button when it closes (Save or Cancel), not the top of the page. */
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (!target || !/^col-\d+$/.test(target.id || "")) { return; }
    var row = document.getElementById(target.id);
    var next = row && (row.querySelector("input:not([type=hidden]), textarea, select") ||
                       row.querySelector("a.button, button"));
    if (next) { next.focus(); }
  });

  /* The deferred facet sidebar (data-deferred-facets) says it is busy while its counts load, and
   * stops saying so when the request fails. Event listeners here rather than hx-on attributes:
   * those are compiled with new Function, which the Content-Security-Policy forbids. */
  function deferredFacets(event) {
    var elt = event.detail && event.detail.elt;
    return elt && elt.matches && elt.matches("[data-deferred-facets]") ? elt : null;
  }
  function facetsBusy(elt, busy) {
    var wait = elt.querySelector(".facets-wait");
    if (busy) { elt.setAttribute("aria-busy", "true"); } else { elt.removeAttribute("aria-busy"); }
    if (wait) { wait.hidden = !busy; }
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = deferredFacets(event);
    if (elt) { facetsBusy(elt, true); }
  });
  ["htmx:responseError", "htmx:sendError"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var elt = deferredFacets(event);
      if (elt) { facetsBusy(elt, false); }
    });
  });

  /* Buttons marked data-print print the page (no inline onclick: the CSP forbids inline script). */
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-print]");
    if (button) { window.print(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("upload-form");
    if (form && window.FormData && window.XMLHttpRequest) { enhanceUpload(form); }
  });
})();
