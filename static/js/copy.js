// Copy buttons: every element with `data-copy="value"` gets a "Copy" button after it (the
// search page's query, emails and user ids; the user page's id and email; a password change
// link, named by `data-copy-label` rather than read out whole). An enhancement only.
(function () {
  "use strict";

  function copyButton(target) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button small secondary copy";
    button.textContent = "Copy";
    var value = target.dataset.copy;
    button.setAttribute("aria-label", target.dataset.copyLabel || "Copy " + value);
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(value).then(
        function () {
          button.textContent = "Copied";
        },
        function () {
          button.textContent = "Copy failed";
        },
      );
    });
    target.insertAdjacentElement("afterend", button);
  }

  function enhance(root) {
    root.querySelectorAll("[data-copy]").forEach(function (target) {
      if (target.dataset.copyReady) return;
      target.dataset.copyReady = "1";
      if (target.dataset.copy) copyButton(target);
    });
  }

  document.addEventListener("htmx:load", function (event) {
    enhance(event.detail.elt);
  });
  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
  });
})();
