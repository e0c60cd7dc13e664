// The ledger page's exports: while one is queued or running, ask for the list every few
// seconds and show its progress, and the download link once it is done.
(function () {
  "use strict";
  var section = document.getElementById("exports");
  if (!section) return;
  var list = document.getElementById("export-list");
  var url = section.dataset.progressUrl;

  function pending() {
    return list.querySelector('tr[data-status="queued"], tr[data-status="running"]') !== null;
  }

  function poll() {
    if (!pending()) return;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data) list.innerHTML = data.html;
        window.setTimeout(poll, 3000);
      })
      .catch(function () { window.setTimeout(poll, 10000); });
  }

  window.setTimeout(poll, 2000);
})();
