// agdm-zoo leaderboard: metric choice and column sorting, hand-written, no libraries.
// State lives in the URL hash, so a view can be linked: #metric=robust_acc_mean&sort=pgd-eot&dir=asc
(function () {
  "use strict";

  function readHash() {
    var state = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      var pair = part.split("=");
      if (pair[0]) { state[decodeURIComponent(pair[0])] = decodeURIComponent(pair[1] || ""); }
    });
    return state;
  }

  function writeHash(state) {
    var parts = [];
    Object.keys(state).forEach(function (key) {
      if (state[key]) { parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(state[key])); }
    });
    location.hash = parts.join("&");
  }

  function showMetric(table, metric) {
    var spans = table.querySelectorAll("span.m");
    var known = false;
    spans.forEach(function (span) { if (span.getAttribute("data-metric") === metric) { known = true; } });
    if (!known) { return; }
    table.setAttribute("data-metric", metric);
    spans.forEach(function (span) { span.hidden = span.getAttribute("data-metric") !== metric; });
    document.querySelectorAll('select.metric[data-table="' + table.id + '"]').forEach(function (select) {
      select.value = metric;
    });
  }

  // the sort key of a row in a column: the shown metric's value, else the cell's own data-sort
  function keyOf(row, column, metric) {
    var cells = row.children;
    for (var i = 0; i < cells.length; i++) {
      if (cells[i].getAttribute("data-col") !== column) { continue; }
      var spans = cells[i].querySelectorAll("span.m");
      for (var j = 0; j < spans.length; j++) {
        if (spans[j].getAttribute("data-metric") === metric) { return spans[j].getAttribute("data-sort") || ""; }
      }
      return spans.length ? "" : (cells[i].getAttribute("data-sort") || "");
    }
    return "";
  }

  function sortTable(table, column, dir) {
    var header = null;
    table.querySelectorAll("thead th").forEach(function (th) {
      th.removeAttribute("aria-sort");
      if (th.getAttribute("data-col") === column) { header = th; }
    });
    if (!header) { return; }
    var numeric = header.getAttribute("data-type") === "number";
    var metric = table.getAttribute("data-metric");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (row, index) {
      return { row: row, index: index, key: keyOf(row, column, metric) };
    });
    var sign = dir === "asc" ? 1 : -1;
    rows.sort(function (a, b) {
      if (a.key === "" || b.key === "") {  // missing values last, whatever the direction
        return a.key === b.key ? a.index - b.index : (a.key === "" ? 1 : -1);
      }
      var d = numeric ? parseFloat(a.key) - parseFloat(b.key) : a.key.localeCompare(b.key);
      return d !== 0 ? sign * d : a.index - b.index;
    });
    rows.forEach(function (item) { body.appendChild(item.row); });
    header.setAttribute("aria-sort", dir === "asc" ? "ascending" : "descending");
  }

  function apply() {
    var state = readHash();
    document.querySelectorAll("table.sortable").forEach(function (table) {
      if (state.metric) { showMetric(table, state.metric); }
      if (state.sort) { sortTable(table, state.sort, state.dir === "asc" ? "asc" : "desc"); }
    });
  }

  document.querySelectorAll("table.sortable thead th").forEach(function (th) {
    th.addEventListener("click", function () {
      var state = readHash();
      var column = th.getAttribute("data-col");
      var first = th.getAttribute("data-type") === "number" ? "desc" : "asc";
      state.dir = state.sort === column ? (state.dir === "asc" ? "desc" : "asc") : first;
      state.sort = column;
      writeHash(state);
    });
  });
  document.querySelectorAll("select.metric").forEach(function (select) {
    select.addEventListener("change", function () {
      var state = readHash();
      state.metric = select.value;
      writeHash(state);
    });
  });
  window.addEventListener("hashchange", apply);
  apply();
}());
