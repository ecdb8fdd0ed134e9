// escalated: live updates for lists and issue pages, with the browser's own EventSource.
// Without JavaScript the pages work the same, and show what was true when they were loaded.
(function () {
  "use strict";
  var body = document.body;
  var scope = body.getAttribute("data-live");
  if (!scope || !window.EventSource || !window.fetch || !window.DOMParser) { return; }
  var issue = body.getAttribute("data-issue");
  var after = body.getAttribute("data-after") || "0";
  var pending = null;

  // Fetch this page again and swap in its live regions (not the forms being typed in).
  function refresh() {
    pending = null;
    fetch(body.getAttribute("data-href") || window.location.href, { credentials: "same-origin", headers: { "X-Live": "1" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var next = new DOMParser().parseFromString(html, "text/html");
        var regions = document.querySelectorAll("[data-region]");
        for (var i = 0; i < regions.length; i++) {
          var fresh = next.getElementById(regions[i].id);
          if (fresh) { regions[i].replaceWith(fresh); }
        }
        body.setAttribute("data-updated", String(Date.now()));
      })
      .catch(function () {});
  }

  function schedule() {
    if (pending === null) { pending = window.setTimeout(refresh, 150); }
  }

  var source = new EventSource("/live?after=" + encodeURIComponent(after));
  source.addEventListener("issue", function (message) {
    var data;
    try { data = JSON.parse(message.data); } catch (e) { return; }
    if (scope === "issue" && String(data.issue) !== issue) { return; }
    schedule();
  });
  source.addEventListener("reload", schedule);
})();
