// Ctrl+Enter (Cmd+Enter on a Mac) in a query box presses its form's button: Enter in a textarea
// starts a new line. The box names the button with data-ctrl-enter (a selector in its form).
(function () {
  "use strict";

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || event.isComposing) return;
    if (!target.matches || !target.matches("textarea[data-ctrl-enter]")) return;
    var submit = target.form && target.form.querySelector(target.dataset.ctrlEnter);
    if (!submit || submit.disabled) return;
    event.preventDefault();
    target.form.requestSubmit(submit);
  });
})();
