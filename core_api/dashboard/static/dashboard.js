// Samvad dashboard: live refresh. Figures are rendered (and escaped) on the server; this
// script only swaps in a fresh copy when the server says something changed.
"use strict";

(function () {
  const figures = document.getElementById("figures");
  const live = document.getElementById("live");
  if (!figures) return; // the login page
  const query = window.location.search;
  let pending = null;

  function show(text) { if (live) live.textContent = text; }

  async function refresh() {
    pending = null;
    try {
      const response = await fetch("/dashboard/fragment" + query,
                                   { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) { window.location.assign("/dashboard"); return; }
      if (!response.ok) { show("refresh failed (" + response.status + ")"); return; }
      figures.innerHTML = await response.text();
      figures.dataset.refreshed = String(Date.now());
    } catch (error) {
      show("offline; retrying");
    }
  }

  function soon() { // several events in a burst make one refresh
    if (pending === null) pending = window.setTimeout(refresh, 300);
  }

  if ("EventSource" in window) {
    const events = new EventSource("/dashboard/events" + query);
    events.addEventListener("ready", function () { show("live"); });
    events.addEventListener("changed", function () { show("live"); soon(); });
    events.onerror = function () { show("reconnecting…"); };
  } else {
    show("refreshing every minute");
  }
  window.setInterval(refresh, 60000);
})();
