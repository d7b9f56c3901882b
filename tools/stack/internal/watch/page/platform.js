// platform.js — the platform page, with JavaScript on: it reloads the
// page's live part every second from the page itself (the server renders
// it from the same state as /platform/api/state), while the page is visible.
"use strict";

(function () {
  const live = document.getElementById("live");
  if (!live) {
    return;
  }
  async function again() {
    if (!document.hidden) {
      try {
        const resp = await fetch(window.location.pathname, { headers: { Accept: "text/html" }, cache: "no-store" });
        if (resp.ok) {
          const page = new DOMParser().parseFromString(await resp.text(), "text/html");
          const fresh = page.getElementById("live");
          if (fresh) {
            live.replaceChildren.apply(live, Array.from(fresh.childNodes).map(function (n) { return document.importNode(n, true); }));
          }
        }
      } catch (err) {
        // The stack may be stopping: the next round tries again.
      }
    }
    window.setTimeout(again, 1000);
  }
  window.setTimeout(again, 1000);
})();
