/* Evidence preview: a thumbnail opens the full image in the page's <dialog> (Esc, the
   close button or a click beside the image closes it, and focus goes back to the
   thumbnail). Without this file every thumbnail is a plain link to the image.

   templates/tickets/_evidence.html includes this script, so an htmx swap of #evidence
   runs it again: the flag below makes every copy after the first do nothing, and all
   handlers sit on document (event delegation), so swapped-in thumbnails just work. */
(function () {
  "use strict";
  if (window.xietongEvidencePreview) return;
  window.xietongEvidencePreview = true;

  var opener = null; // the thumbnail that opened the dialog, to give focus back

  // The thumbnails open a dialog rather than go somewhere: links become buttons.
  function upgrade(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll("a.evidence-thumb[data-lightbox]").forEach(function (link) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = link.className;
      button.dataset.lightbox = link.getAttribute("href");
      button.dataset.name = link.dataset.name || "";
      button.dataset.download = link.dataset.download || "";
      button.setAttribute("aria-haspopup", "dialog");
      while (link.firstChild) button.appendChild(link.firstChild);
      link.replaceWith(button);
    });
  }

  upgrade(document);
  document.addEventListener("htmx:load", function (event) {
    upgrade(event.detail && event.detail.elt);
  });

  function open(button) {
    var dialog = document.getElementById("evidence-lightbox");
    if (!dialog || typeof dialog.showModal !== "function") {
      window.location.href = button.dataset.lightbox; // no <dialog> support: just show it
      return;
    }
    var image = dialog.querySelector(".lightbox-image");
    image.src = button.dataset.lightbox;
    image.alt = button.dataset.name;
    dialog.querySelector(".lightbox-title").textContent = button.dataset.name;
    dialog.querySelector(".lightbox-download").href = button.dataset.download;
    opener = button;
    dialog.showModal(); // modal: Esc closes it, the page behind is inert
    dialog.querySelector(".lightbox-close").focus();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.evidence-thumb[data-lightbox]");
    if (button) {
      open(button);
      return;
    }
    var close = event.target.closest("dialog.lightbox .lightbox-close");
    if (close) {
      close.closest("dialog").close();
      return;
    }
    // A click on the backdrop lands on the <dialog> itself, not on its contents.
    if (event.target.matches("dialog.lightbox[open]")) event.target.close();
  });

  // "close" does not bubble; listen in the capture phase.
  document.addEventListener(
    "close",
    function (event) {
      var dialog = event.target;
      if (!dialog.matches || !dialog.matches("dialog.lightbox")) return;
      dialog.querySelector(".lightbox-image").removeAttribute("src");
      if (opener && document.contains(opener)) opener.focus();
      opener = null;
    },
    true
  );
})();
