// The user page's action panels (templates/users_admin/action.html): the focus goes where the
// eye goes. An opened panel focuses its first field; a refused one the field in error; a
// confirmation step its first choice or the reason; an outcome its message. Without JavaScript
// each panel is a page of its own, and the same rule runs when it loads.
(function () {
  "use strict";

  var FIELDS =
    'input:not([type=hidden]):not([disabled]):not([readonly]), select:not([disabled]), textarea:not([disabled])';

  function focusPanel(panel) {
    var card = panel.querySelector(".action-card");
    if (!card) return;
    var target =
      card.querySelector('[aria-invalid="true"]') ||
      card.querySelector(".outcome, .alert") ||
      card.querySelector("form " + FIELDS) ||
      card.querySelector("form button[type=submit]") ||
      card.querySelector("h2");
    if (!target.matches("input, select, textarea, button, a[href]")) {
      target.setAttribute("tabindex", "-1");
    }
    target.focus();
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (target && target.id === "action-panel") focusPanel(target);
  });
  // A panel someone has typed into is not reloaded by the link that opened it (a second
  // click, a double click on a slow day): its answer would replace the draft. Another
  // action's link still replaces it, as asked.
  document.addEventListener("input", function (event) {
    var panel = document.getElementById("action-panel");
    if (panel && panel.contains(event.target)) panel.dataset.edited = "true";
  });
  function reopensDraft(panel, verb, elt, path) {
    return Boolean(
      panel && panel.dataset.edited && verb === "get" && elt && elt.tagName === "A" &&
      path === panel.dataset.openedFrom
    );
  }
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var config = event.detail.requestConfig || {};
    if (target && target.id === "action-panel") {
      // An answer to a click made before the typing (sent before this guard could stop it).
      if (reopensDraft(target, config.verb, config.elt, event.detail.pathInfo.requestPath)) {
        event.detail.shouldSwap = false;
        return;
      }
      delete target.dataset.edited;
      target.dataset.openedFrom = event.detail.pathInfo.requestPath;
    }
  });
  document.addEventListener("htmx:confirm", function (event) {
    var panel = document.getElementById("action-panel");
    var verb = event.detail.verb;
    if (event.detail.target === panel && reopensDraft(panel, verb, event.detail.elt, event.detail.path)) {
      event.preventDefault();
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var panel = document.getElementById("action-panel");
    if (panel) focusPanel(panel);
  });
})();
