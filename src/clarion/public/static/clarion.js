// Clarion: show times in the reader's time zone, and move between the days of an uptime bar
// with the arrow keys. The page is complete without this script.
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

// Each uptime bar is a listbox of days (WAI-ARIA's listbox pattern, horizontal) with a roving
// tabindex: the row is one tab stop, on its current day (today in the markup). Left and Right
// move to the day before or after, Home and End to the first and last day shown; the day that
// takes focus becomes the current one (aria-selected), so its name, its date, uptime and
// incidents, is what a screen reader announces, and its tooltip shows. A day clicked becomes
// current too. Days hidden by the layout (phones show 30 of 90) are skipped.
(function () {
  "use strict";
  var KEYS = { ArrowLeft: -1, ArrowRight: 1, Home: "first", End: "last" };
  function shown(list) {
    var days = list.querySelectorAll("[role=option]");
    var found = [];
    for (var i = 0; i < days.length; i++) {
      if (days[i].getClientRects().length) { found.push(days[i]); }
    }
    return found;
  }
  function current(list) { return list.querySelector("[role=option][tabindex='0']"); }
  function choose(list, day) {
    var was = current(list);
    if (was && was !== day) {
      was.tabIndex = -1;
      was.removeAttribute("aria-selected");
    }
    day.tabIndex = 0;
    day.setAttribute("aria-selected", "true");
  }
  function onKey(event) {
    var move = KEYS[event.key];
    var list = event.currentTarget;
    if (move === undefined || event.altKey || event.ctrlKey || event.metaKey) { return; }
    var days = shown(list);
    var at = days.indexOf(event.target);
    if (!days.length || at < 0) { return; }
    var next = move === "first" ? 0 : move === "last" ? days.length - 1 : at + move;
    event.preventDefault();
    if (next < 0 || next >= days.length || next === at) { return; }
    choose(list, days[next]);
    days[next].focus();
  }
  function onFocus(event) {
    if (event.target.getAttribute("role") === "option") { choose(event.currentTarget, event.target); }
  }
  // A current day the layout has hidden (a narrower window) would take the row's tab stop
  // with it: the last day shown takes its place.
  function keepReachable(lists) {
    for (var i = 0; i < lists.length; i++) {
      var day = current(lists[i]);
      if (day && !day.getClientRects().length) {
        var days = shown(lists[i]);
        if (days.length) { choose(lists[i], days[days.length - 1]); }
      }
    }
  }
  function start() {
    var lists = document.querySelectorAll(".bars[role=listbox]");
    for (var i = 0; i < lists.length; i++) {
      lists[i].addEventListener("keydown", onKey);
      lists[i].addEventListener("focusin", onFocus);
    }
    if (lists.length) {
      window.addEventListener("resize", function () { keepReachable(lists); });
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
