// The search page: operators that fit the field, keyboard shortcuts, column order (copy buttons:
// copy.js).
// Everything here is an enhancement: the page works as a plain GET form without it.
(function () {
  "use strict";

  var INPUT_TYPES = { number: "number", date: "date" };
  var KIND_LABELS = {
    gt: { number: "greater than", date: "after" },
    lt: { number: "less than", date: "before" },
  };

  // `retype`: the field was just changed, so the value inputs take its type. On load the server
  // chose the type (a date it could not show as a date stays text, as typed).
  function syncRow(row, retype) {
    var field = row.querySelector("select.field-choice");
    var op = row.querySelector("select.op-choice");
    if (!field || !op) return;
    var chosen = field.options[field.selectedIndex];
    var kind = chosen ? chosen.dataset.kind : "text";
    var firstAllowed = null;
    Array.prototype.forEach.call(op.options, function (option) {
      var allowed = (option.dataset.kinds || "").split(" ").indexOf(kind) !== -1;
      option.hidden = !allowed;
      option.disabled = !allowed;
      if (allowed && firstAllowed === null) firstAllowed = option;
      var labels = KIND_LABELS[option.value];
      if (labels && labels[kind]) option.textContent = labels[kind];
    });
    if (op.selectedOptions.length === 0 || op.selectedOptions[0].disabled) {
      if (firstAllowed) op.value = firstAllowed.value;
    }
    if (!retype) return;
    row.querySelectorAll("input.value, input.value2").forEach(function (input) {
      var type = INPUT_TYPES[kind] || "text";
      if (input.type !== type) {
        input.value = "";
        input.type = type;
      }
      if (type === "number") input.step = "1";
      else input.removeAttribute("step");
    });
  }

  function moveButton(item, label, step) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button small secondary move";
    button.textContent = step < 0 ? "↑" : "↓";
    var name = item.querySelector("label").textContent.trim();
    button.setAttribute("aria-label", label + " " + name);
    button.addEventListener("click", function () {
      var list = item.parentElement;
      if (step < 0 && item.previousElementSibling) {
        list.insertBefore(item, item.previousElementSibling);
      } else if (step > 0 && item.nextElementSibling) {
        list.insertBefore(item.nextElementSibling, item);
      }
      button.focus();
    });
    item.appendChild(button);
  }

  function lengthNote(textarea) {
    var note = document.querySelector(".q-length");
    var max = parseInt(textarea.dataset.maxLength || "0", 10);
    if (!note || !max) return;
    var length = textarea.value.length;
    note.textContent =
      length > max
        ? "This query is " + length.toLocaleString("en") + " characters; Auth0 takes at most " +
          max.toLocaleString("en") + "."
        : "";
    note.classList.toggle("errorlist", length > max);
  }

  function enhance(root) {
    root.querySelectorAll(".builder .row").forEach(function (row) {
      syncRow(row, false);
    });
    root.querySelectorAll(".column-choices li").forEach(function (item) {
      if (item.querySelector("button.move")) return;
      moveButton(item, "Move up", -1);
      moveButton(item, "Move down", 1);
    });
    root.querySelectorAll("textarea[name=q]").forEach(lengthNote);
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches(".builder select.field-choice")) {
      syncRow(target.closest(".row"), true);
    }
  });

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea[name=q]")) lengthNote(event.target);
  });

  // After a search answered in place: a row refused by the server has its field focused (the
  // builder came back with the errors at the rows); else the answer is brought into view when
  // it starts outside the window (a phone, or Next pressed at the foot of a long page).
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "results") return;
    // Only a builder this answer brought back (not one left from an earlier page) says so.
    var xhr = event.detail.xhr;
    var refused = xhr && xhr.responseText.indexOf('id="builder"') !== -1;
    var invalid = refused && document.querySelector('#builder [aria-invalid="true"]');
    if (invalid) {
      invalid.focus();
      return;
    }
    var results = document.getElementById("results");
    var top = results ? results.getBoundingClientRect().top : 0;
    if (top < 0 || top > window.innerHeight - 120) results.scrollIntoView({ block: "start" });
  });

  document.addEventListener("htmx:load", function (event) {
    enhance(event.detail.elt);
  });
  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
  });
})();
