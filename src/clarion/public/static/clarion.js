// Clarion: show times in the reader's time zone. The page is complete without this script.
(function () {
  "use strict";
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone) { return; }
  var full = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    timeZoneName: "short"
  });
  var day = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
  function localise() {
    var times = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) { continue; }
      if (!el.title) { el.title = el.textContent; }
      el.textContent = el.getAttribute("data-style") === "date" ? day.format(when) : full.format(when);
    }
    var names = document.querySelectorAll("[data-tz-name]");
    for (var j = 0; j < names.length; j++) { names[j].textContent = "your time zone (" + zone + ")"; }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", localise);
  } else {
    localise();
  }
})();
