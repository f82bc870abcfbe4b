// Export builder: a live field counter, each format's field rules shown while picking (read
// from the page: exports.formats.page_rules), order numbers.
(function () {
  "use strict";

  function setup(form) {
    var rules = JSON.parse(document.getElementById("format-rules").textContent);
    var objectPath = new RegExp("^(?:" + rules.objectPath + ")$");
    var limitNote = document.getElementById("field-limit");
    var submit = document.getElementById("submit-export");
    var count = document.getElementById("field-count");
    var problem = document.getElementById("field-counter-error");
    var blocked = document.getElementById("submit-blocked");
    var limit = form.querySelector("input[name=limit]");
    var sample = form.querySelector("input[name=sample]");

    function format() {
      var checked = form.querySelector("input[name=format]:checked");
      return rules.formats[checked ? checked.value : Object.keys(rules.formats)[0]];
    }

    function rowName(row) {
      var input = row.querySelector(".field-name");
      return input ? input.value.trim() : "";
    }

    function picked() {
      return Array.prototype.filter.call(form.querySelectorAll(".field-row"), function (row) {
        var box = row.querySelector(".field-on");
        return box && box.checked && rowName(row) !== "";
      });
    }

    // Typing a name into an empty row ticks its Include box (clearing it unticks), until
    // the box is set by hand: the box is what the server honours.
    function followName(input) {
      var row = input.closest(".field-row");
      var box = row && row.querySelector(".field-on");
      if (!box || box.dataset.touched) { return; }
      var wanted = input.value.trim() !== "";
      if (box.checked !== wanted) {
        box.checked = wanted;
        var order = row.querySelector(".field-order");
        if (wanted && order && !order.value) { order.value = String(nextOrder()); }
      }
    }

    function update() {
      var rows = picked();
      var rule = format();
      var max = rule.maxFields;
      var objects = rule.holdsObjects ? [] : rows.filter(function (row) {
        var name = rowName(row);
        return row.classList.contains("is-object") ||
          rules.objectFields.indexOf(name) !== -1 || objectPath.test(name);
      });
      var messages = [];
      if (max !== null && rows.length > max) {
        messages.push(rule.label + " exports take at most " + max + " fields; you picked " + rows.length + ".");
      }
      if (objects.length) {
        messages.push(rule.label + " cannot hold whole objects (" + objects.map(rowName).join(", ") +
          "): pick their leaf paths or choose " + rules.roomiest + ".");
      }
      count.textContent = String(rows.length);
      limitNote.textContent = max === null ? "" : " of at most " + max + " for " + rule.label;
      problem.textContent = messages.join(" ");
      problem.classList.toggle("hidden", messages.length === 0);
      if (blocked) {
        // Beside the disabled button too, so whoever reaches it knows why it is disabled.
        blocked.textContent = messages.length ? "Start export is disabled: " + messages.join(" ") : "";
        blocked.classList.toggle("hidden", messages.length === 0);
      }
      submit.disabled = messages.length > 0;
      renderOrder();
      countGroups();
      clearSummary();
    }

    // The sticky summary grows with its messages: a control reached by keyboard is scrolled
    // clear of it, never under it.
    var summaryBar = document.getElementById("builder-summary");

    function clearSummary() {
      if (summaryBar) {
        document.documentElement.style.scrollPaddingBottom = (summaryBar.offsetHeight + 16) + "px";
      }
    }
    window.addEventListener("resize", clearSummary);

    // Find a field: the text narrows the rows of every group (name or column title), "Show"
    // keeps the picked or the other ones; a group with nothing left is hidden. Rows are only
    // hidden when the filter changes, never under the focus while a box is ticked.
    var filter = document.getElementById("field-filter");
    var show = document.getElementById("field-show");
    var filterCount = document.getElementById("field-filter-count");

    function rowText(row) {
      var title = row.querySelector(".field-as");
      return (rowName(row) + " " + (title ? title.value : "")).toLowerCase();
    }

    function applyFilter() {
      if (!filter || !show) { return; }
      var text = filter.value.trim().toLowerCase();
      var mode = show.value;
      var shown = 0;
      var total = 0;
      form.querySelectorAll(".field-group").forEach(function (group) {
        var visible = 0;
        group.querySelectorAll(".field-row").forEach(function (row) {
          var on = row.querySelector(".field-on").checked;
          var empty = rowName(row) === "";
          var keep = (text === "" || (!empty && rowText(row).indexOf(text) !== -1)) &&
            (mode === "all" || (mode === "picked" ? on : !on)) &&
            !(empty && (text !== "" || mode === "picked"));
          row.hidden = !keep;
          if (!empty) { total += 1; }
          if (keep) { visible += 1; if (!empty) { shown += 1; } }
        });
        group.hidden = visible === 0;
      });
      filterCount.textContent = text === "" && mode === "all" ? "" :
        shown + " of " + total + " fields shown.";
    }

    function countGroups() {
      form.querySelectorAll(".field-group").forEach(function (group) {
        var rows = Array.prototype.filter.call(group.querySelectorAll(".field-row"), function (row) {
          return rowName(row) !== "";
        });
        var on = rows.filter(function (row) { return row.querySelector(".field-on").checked; });
        group.querySelector(".group-count").textContent = "(" + on.length + " of " + rows.length + " picked)";
      });
    }

    if (filter && show) {
      filter.addEventListener("input", function (event) { event.stopPropagation(); applyFilter(); });
      show.addEventListener("change", function (event) { event.stopPropagation(); applyFilter(); });
      // Enter in the search goes to the first field found, never starts the export.
      filter.addEventListener("keydown", function (event) {
        if (event.key !== "Enter" || event.isComposing) { return; }
        event.preventDefault();
        var shown = Array.prototype.filter.call(form.querySelectorAll(".field-row"), function (row) {
          return !row.hidden && !row.closest(".field-group").hidden;
        });
        var text = filter.value.trim().toLowerCase();
        var first = shown.find(function (row) { return rowName(row).toLowerCase() === text; }) || shown[0];
        if (first) { first.querySelector(".field-on").focus(); }
      });
    }

    function nextOrder() {
      var highest = 0;
      form.querySelectorAll(".field-order").forEach(function (input) {
        var value = parseInt(input.value, 10);
        if (!isNaN(value) && value > highest) { highest = value; }
      });
      return highest + 1;
    }

    var orderList = document.getElementById("picked-order");

    function orderOf(row, position) {
      var value = parseInt(row.querySelector(".field-order").value, 10);
      return isNaN(value) ? 100000 + position : value;
    }

    function ordered() {
      return picked()
        .map(function (row, position) { return { row: row, key: orderOf(row, position) }; })
        .sort(function (a, b) { return a.key - b.key; })
        .map(function (entry) { return entry.row; });
    }

    function renumber(rows) {
      rows.forEach(function (row, index) { row.querySelector(".field-order").value = String(index + 1); });
    }

    var orderStatus = document.getElementById("order-status");

    // The list is drawn again after a move: the focus goes back to the same arrow of the
    // moved field (the other one at either end), so it can be pressed again.
    function move(rows, index, by) {
      var target = index + by;
      if (target < 0 || target >= rows.length) { return; }
      var moved = rows.splice(index, 1)[0];
      rows.splice(target, 0, moved);
      renumber(rows);
      update();
      var name = rowName(moved);
      var arrows = orderList.querySelectorAll("button[data-field]");
      var wanted = by < 0 && target > 0 || by > 0 && target < rows.length - 1 ? by : -by;
      Array.prototype.forEach.call(arrows, function (arrow) {
        if (arrow.dataset.field === name && arrow.dataset.by === String(wanted)) { arrow.focus(); }
      });
      if (orderStatus) {
        orderStatus.textContent = name + " is now " + (target + 1) + " of " + rows.length + ".";
      }
    }

    function button(label, text, onClick, field, by) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "button small secondary";
      b.textContent = text;
      b.setAttribute("aria-label", label);
      b.dataset.field = field;
      b.dataset.by = String(by);
      b.addEventListener("click", onClick);
      return b;
    }

    function renderOrder() {
      if (!orderList) { return; }
      var rows = ordered();
      orderList.textContent = "";
      rows.forEach(function (row, index) {
        var title = row.querySelector(".field-as").value.trim();
        var item = document.createElement("li");
        var name = document.createElement("span");
        name.className = "mono";
        name.textContent = rowName(row) + (title ? " → " + title : "");
        item.appendChild(name);
        item.appendChild(button("Move " + rowName(row) + " up", "↑", function () { move(rows, index, -1); }, rowName(row), -1));
        item.appendChild(button("Move " + rowName(row) + " down", "↓", function () { move(rows, index, 1); }, rowName(row), 1));
        orderList.appendChild(item);
      });
    }

    form.addEventListener("change", function (event) {
      var target = event.target;
      if (target.classList && target.classList.contains("field-on")) { target.dataset.touched = "1"; }
      if (target.classList && target.classList.contains("field-on") && target.checked) {
        var order = target.closest(".field-row").querySelector(".field-order");
        if (order && !order.value) { order.value = String(nextOrder()); }
      }
      if (target === sample && limit) {
        if (sample.checked) { limit.dataset.previous = limit.value; limit.value = "10"; }
        else { limit.value = limit.dataset.previous || ""; }
        limit.readOnly = sample.checked;
      }
      update();
    });
    form.addEventListener("input", function (event) {
      var target = event.target;
      if (target.classList && target.classList.contains("field-name") && target.type === "text") {
        followName(target);
      }
      update();
    });
    update();

    // Once the form is submitted the page is being left: a late import outlook would be
    // aborted by the navigation, and htmx logs every abort as an error.
    var leaving = false;
    document.addEventListener("submit", function (event) {
      if (event.target === form && !event.defaultPrevented) { leaving = true; }
    });
    document.body.addEventListener("htmx:confirm", function (event) {
      if (leaving && event.target.id === "import-outlook") { event.preventDefault(); }
    });

    // Enter in the template's name saves the template: the browser would press the form's
    // first button, Start export, and run an export nobody asked for.
    var templateTitle = form.querySelector("[name=template_title]");
    var saveTemplate = form.querySelector("button[name=save_template]");
    if (templateTitle && saveTemplate) {
      templateTitle.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.isComposing) {
          event.preventDefault();
          saveTemplate.click();
        }
      });
    }
  }

  // The error summary (GOV.UK's pattern) takes the focus, and each of its links moves the
  // focus to the control in error, scrolled to the middle of the window (inside a sideways
  // scrolling table too), with its label in view.
  function errorSummary(summary) {
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      var target = link && document.getElementById(link.getAttribute("href").slice(1));
      if (!target) { return; }
      event.preventDefault();
      target.focus({ preventScroll: true });
      target.scrollIntoView({ block: "center", inline: "center" });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("export-builder");
    if (form) { setup(form); }
    var summary = document.getElementById("error-summary");
    if (summary) { errorSummary(summary); }
  });
})();
