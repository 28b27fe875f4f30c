/* Xietong dashboard: small progressive enhancements on top of server-rendered pages.
   Everything works without this file; it adds live countdowns, drag-and-drop upload
   with progress, quick-phrase insertion and focus management after htmx swaps. */
(function () {
  "use strict";

  var liveSwap = false;

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

  // The top bar's store and language switches submit on change (no inline handlers:
  // the Content-Security-Policy allows no inline script).
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) select.form.submit();
  });

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
    // A refresh pushed by the server does not move the reader's focus.
    if (liveSwap) { liveSwap = false; return; }
    var fresh = document.getElementById(root.id) || root;
    var focus = fresh.querySelector("[role=alert]") || fresh.querySelector("[data-focus], h1, h2");
    if (focus) {
      if (!focus.hasAttribute("tabindex")) focus.setAttribute("tabindex", "-1");
      focus.focus();
    }
  });

  // --- the work queue: selection that survives refreshes, select-all, SLA badges ---

  var selected = new Set();
  var chosenAssignee = null;  // the bulk bar's "assign to", kept across refreshes too

  function syncSelection(root) {
    var boxes = root.querySelectorAll("input[name=ticket]");
    boxes.forEach(function (box) { box.checked = selected.has(box.value); });
    var all = root.querySelector("[data-select-all]");
    if (all) {
      var checked = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length;
      all.checked = boxes.length > 0 && checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    }
    var count = root.querySelector("[data-selected-count]");
    if (count) {
      count.textContent = selected.size ?
        (count.dataset.template || "%(count)s").replace("%(count)s", selected.size) : "";
    }
  }

  document.addEventListener("change", function (event) {
    var list = document.getElementById("ticket-list");
    if (!list || !list.contains(event.target)) return;
    if (event.target.matches("#id_assignee")) {
      chosenAssignee = event.target.value;
      return;
    }
    if (event.target.matches("[data-select-all]")) {
      list.querySelectorAll("input[name=ticket]").forEach(function (box) {
        if (event.target.checked) selected.add(box.value); else selected.delete(box.value);
      });
    } else if (event.target.matches("input[name=ticket]")) {
      if (event.target.checked) selected.add(event.target.value);
      else selected.delete(event.target.value);
    } else {
      return;
    }
    syncSelection(list);
  });

  // The bulk form posts what is checked on this page; keep it in step with the set.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "ticket-list") return;
    var list = event.detail.target;
    if (list.querySelector("[data-clear-selection]")) selected.clear();
    var assignee = list.querySelector("#id_assignee");
    if (assignee && chosenAssignee !== null &&
        assignee.querySelector('option[value="' + chosenAssignee + '"]')) {
      assignee.value = chosenAssignee;
    }
    syncSelection(list);
    tickBadges();
  });

  // SLA badges in the list ("0:52 left") follow the clock between refreshes; the
  // server's text comes back with the next pushed refresh. role=timer: not announced.
  var badgesSynced = Date.now();
  function tickBadges() {
    badgesSynced = Date.now();
    document.querySelectorAll(".sla[data-remaining]").forEach(function (el) {
      el.dataset.base = el.dataset.remaining;
    });
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  setInterval(function () {
    var elapsed = (Date.now() - badgesSynced) / 1000;
    var table = document.querySelector("table.tickets");
    if (!table) return;
    document.querySelectorAll(".sla[data-remaining]").forEach(function (el) {
      if (el.dataset.paused === "1") return;
      var base = parseFloat(el.dataset.base || el.dataset.remaining);
      var left = Math.floor(base - elapsed);
      if (left <= 0) {
        el.textContent = table.dataset.overdue || el.textContent;
        el.className = "sla sla-overdue";
        return;
      }
      var days = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600);
      var m = Math.floor((left % 3600) / 60);
      var time = (days ? (table.dataset.days || "%(days)dd ").replace("%(days)d", days) : "") +
        h + ":" + pad(m);
      el.textContent = (table.dataset.left || "%(time)s").replace("%(time)s", time);
    });
  }, 30000);

  // --- live updates: the server pushes the store's ticket events (Server-Sent Events) ---

  var liveRoot = document.querySelector("[data-live-url]");
  if (liveRoot && window.EventSource) {
    var pending = null;
    var source = new EventSource(liveRoot.dataset.liveUrl);
    source.addEventListener("ticket", function (message) {
      var data = {};
      try { data = JSON.parse(message.data); } catch (e) { return; }
      data.id = parseInt(message.lastEventId, 10) || 0;
      clearTimeout(pending);
      pending = setTimeout(function () { refresh(data); }, 300);
    });
    window.addEventListener("beforeunload", function () { source.close(); });
  }

  function editing(root) {
    var active = document.activeElement;
    if (active && root.contains(active) && active.closest("form") &&
        /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) return true;
    // Unsaved input, a question waiting for an answer (confirm an escalation), or a
    // preview being looked at.
    return !!root.querySelector("form[data-dirty], [data-live-hold], dialog[open]");
  }

  function refresh(data) {
    var bell = document.getElementById("notification-bell");
    if (bell && bell.getAttribute("hx-get")) {
      htmx.ajax("GET", bell.getAttribute("hx-get"), { target: "#notification-bell", swap: "outerHTML" });
    }
    if (document.getElementById("queue-refresh")) {
      htmx.trigger(document.body, "xietong:live", data);
    }
    var page = document.querySelector("#ticket[data-ticket-id]");
    if (page && String(data.ticket) === page.dataset.ticketId && data.id > seenEvent()) {
      if (editing(page)) {
        var banner = document.getElementById("live-banner");
        if (banner) banner.hidden = false;
      } else {
        liveSwap = true;
        htmx.ajax("GET", window.location.pathname, { target: "#ticket", swap: "outerHTML", select: "#ticket" });
      }
    }
  }

  // The newest event the ticket page already shows: from its render, and from the
  // X-Seen-Event header of each section it swapped since (the echo of one's own change).
  var seenFromHeaders = 0;
  function seenEvent() {
    var page = document.querySelector("#ticket[data-seen-event]");
    return Math.max(seenFromHeaders, page ? parseInt(page.dataset.seenEvent, 10) || 0 : 0);
  }
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail && event.detail.xhr;
    var seen = xhr && parseInt(xhr.getResponseHeader("X-Seen-Event"), 10);
    if (seen) seenFromHeaders = Math.max(seenFromHeaders, seen);
  });

  // A form with unsaved input is "dirty": a pushed refresh does not wipe it.
  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("#ticket form");
    if (form) form.dataset.dirty = "1";
  });
  document.addEventListener("click", function (event) {
    if (event.target.matches && event.target.matches("[data-live-reload]")) {
      window.location.reload();
    }
  });
})();
