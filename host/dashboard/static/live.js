// The households page refreshes itself: every data-refresh seconds (the period the page states)
// it asks the server for the same view (?partial=rows plus the page's own query) and swaps the
// table body, the counts, the pager and the "updated" stamp. No framework; the server escapes
// everything it sends.
(function () {
  "use strict";

  function autosubmit() {
    var form = document.querySelector("form[data-autosubmit]");
    if (!form) return;
    form.addEventListener("change", function (e) {
      if (e.target && (e.target.type === "checkbox" || e.target.tagName === "SELECT")) {
        form.submit();
      }
    });
  }

  function live() {
    var table = document.querySelector("table[data-live]");
    if (!table) return;
    // The server says the period it uses in words; the same floor (app.LIVE_FLOOR_S) here.
    var period = Math.max(2, Number(table.getAttribute("data-refresh")) || 10) * 1000;
    var body = table.querySelector("tbody[data-rows]");
    var pager = document.querySelector("[data-pager]");
    var stamp = document.querySelector("[data-updated]");
    var stale = document.querySelector("[data-stale]");
    var badge = document.querySelector("[data-open-cases]");
    var busy = false;

    function url() {
      var u = new URL(window.location.href);
      u.searchParams.set("partial", "rows");
      return u.toString();
    }

    function show(data) {
      body.innerHTML = data.rows;
      if (pager) pager.innerHTML = data.pager;
      if (stamp) stamp.textContent = data.updated;
      if (badge) {
        badge.textContent = String(data.open_cases);
        badge.classList.toggle("count-open", data.open_cases > 0);
      }
      Object.keys(data.counts).forEach(function (status) {
        var el = document.querySelector('[data-count="' + status + '"]');
        if (el) el.textContent = String(data.counts[status]);
      });
      if (stale) stale.hidden = true;
    }

    function refresh() {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url(), {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(show)
        .catch(function () { if (stale) stale.hidden = false; })
        .then(function () { busy = false; });
    }

    window.setInterval(refresh, period);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) refresh();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { autosubmit(); live(); });
  } else {
    autosubmit();
    live();
  }
})();
