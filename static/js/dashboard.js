/* Xietong dashboard: small progressive enhancements on top of server-rendered pages.
   Everything works without this file; it adds live countdowns, drag-and-drop upload
   with progress, quick-phrase insertion and focus management after htmx swaps. */
(function () {
  "use strict";

  // Unit labels come translated from <body data-time-units="d|h|m|s"> (天|小时|分|秒).
  var units = (document.body.dataset.timeUnits || "d|h|m|s").split("|");

  function format(seconds) {
    var sign = seconds < 0 ? "-" : "";
    var s = Math.abs(Math.round(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60), r = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return sign + (d ? d + units[0] + " " : "") + h + units[1] + " " + pad(m) + units[2] + " " +
      pad(r) + units[3];
  }

  // Live countdowns: tick every second unless the working clock is paused.
  // The server's figure is re-synced by the list's minute refresh.
  setInterval(function () {
    document.querySelectorAll(".countdown").forEach(function (el) {
      if (el.dataset.paused === "1") return;
      var left = parseFloat(el.dataset.remaining) - 1;
      el.dataset.remaining = String(left);
      el.textContent = format(left);
    });
  }, 1000);

  // Quick phrases (快捷短语): append the chosen text to the remark.
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-insert-into]");
    if (!select || !select.value) return;
    var target = document.getElementById(select.dataset.insertInto);
    target.value = target.value ? target.value + "\n" + select.value : select.value;
    select.value = "";
    target.focus();
  });

  // Drag and drop onto an upload form: the dropped file goes into its input and is sent.
  document.addEventListener("dragover", function (event) {
    var zone = event.target.closest("[data-dropzone]");
    if (zone) { event.preventDefault(); zone.classList.add("dragging"); }
  });
  document.addEventListener("dragleave", function (event) {
    var zone = event.target.closest("[data-dropzone]");
    if (zone) zone.classList.remove("dragging");
  });
  document.addEventListener("drop", function (event) {
    var zone = event.target.closest("[data-dropzone]");
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("dragging");
    var input = zone.querySelector("input[type=file]");
    input.files = event.dataTransfer.files;
    zone.requestSubmit();
  });

  // Upload progress for htmx uploads.
  document.addEventListener("htmx:xhr:progress", function (event) {
    var bar = event.target.querySelector && event.target.querySelector("progress");
    if (bar && event.detail.lengthComputable) {
      bar.hidden = false;
      bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
    }
  });

  // After a swap, put keyboard focus on the first error, else the section heading.
  document.addEventListener("htmx:afterSwap", function (event) {
    var root = event.detail.target;
    if (!root || root.id === "ticket-list" || root.id === "notification-bell") return;
    var fresh = document.getElementById(root.id) || root;
    var focus = fresh.querySelector("[role=alert]") || fresh.querySelector("[data-focus], h1, h2");
    if (focus) {
      if (!focus.hasAttribute("tabindex")) focus.setAttribute("tabindex", "-1");
      focus.focus();
    }
  });
})();
