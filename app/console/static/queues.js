// The queues refresh themselves: every few seconds the page asks for its rows and counts
// (same filters) and shows new cases without a reload.
(function () {
  "use strict";
  var table = document.getElementById("queue-table");
  if (!table) return;
  var url = table.dataset.liveUrl;
  var seconds = Math.max(1, parseInt(table.dataset.pollSeconds, 10) || 5);
  var rows = document.getElementById("queue-rows");
  var known = new Set(Array.prototype.map.call(rows.querySelectorAll("tr[data-id]"), function (tr) { return tr.dataset.id; }));

  function update(data) {
    Object.keys(data.counts).forEach(function (key) {
      var badge = document.querySelector('[data-count="' + key + '"]');
      if (badge) badge.textContent = data.counts[key];
    });
    document.getElementById("queue-total").textContent = "共 " + data.total + (data.more ? "+" : "") + " 件";
    var fresh = data.ids.filter(function (id) { return !known.has(id); });
    rows.innerHTML = data.rows;
    fresh.forEach(function (id) {
      var tr = rows.querySelector('tr[data-id="' + id + '"]');
      if (tr) tr.classList.add("new-row");
    });
    if (fresh.length) {
      document.getElementById("live-note").hidden = false;
      document.title = "(" + fresh.length + ") " + document.title.replace(/^\(\d+\) /, "");
    }
    known = new Set(data.ids);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) update(data); })
      .catch(function () { /* the next poll tries again */ })
      .finally(function () { window.setTimeout(poll, seconds * 1000); });
  }
  window.setTimeout(poll, seconds * 1000);
})();
