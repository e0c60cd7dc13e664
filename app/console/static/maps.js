// The console's maps (Leaflet, served by the app): no basemap unless the page names an
// intranet tile server; grids and cases as vector layers coloured by traffic light.
(function () {
  "use strict";
  var COLOURS = { green: "#2e9d48", yellow: "#e6b800", red: "#d33a2c", none: "#7a8794" };

  function baseMap(element) {
    var map = L.map(element, { attributionControl: false, zoomSnap: 0.25, preferCanvas: false });
    var tiles = element.dataset.tileUrl;
    if (tiles) L.tileLayer(tiles, { maxZoom: 20 }).addTo(map);
    return map;
  }

  function caseMarker(feature, latlng, radius) {
    var light = feature.properties.light || "none";
    return L.circleMarker(latlng, {
      radius: radius, color: "#1d2733", weight: 1, fillColor: COLOURS[light] || COLOURS.none,
      fillOpacity: 0.9, className: "case-point case-" + feature.properties.id
    });
  }

  function caseLink(feature) {
    var p = feature.properties;
    var a = document.createElement("a");
    a.href = "/console/cases/" + p.id;
    a.textContent = p.number + " " + p.category + "（" + p.state + "）";
    return a;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); });
  }

  // -- one case: its grid, the grids around it (click to confirm routing), photos, nearby --
  function caseMap(element) {
    var map = baseMap(element);
    var canRoute = element.dataset.canRoute === "1";
    var form = document.getElementById("routing-form");
    getJSON(element.dataset.mapUrl).then(function (data) {
      var grids = L.geoJSON(data.grids, {
        style: function (f) {
          return f.properties.current
            ? { color: "#1f5fbf", weight: 3, fillOpacity: 0.15, className: "grid-poly grid-current grid-" + f.properties.code }
            : { color: "#8a99ab", weight: 1, dashArray: "4", fillOpacity: 0.05, className: "grid-poly grid-" + f.properties.code };
        },
        onEachFeature: function (f, layer) {
          layer.bindTooltip(f.properties.code + (f.properties.name ? " " + f.properties.name : ""));
          if (!canRoute || !form) return;
          layer.on("click", function () {
            grids.resetStyle();
            layer.setStyle({ color: "#d35400", weight: 3, fillOpacity: 0.25 });
            document.getElementById("routing-grid-id").value = f.properties.id;
            document.getElementById("routing-grid-code").textContent = f.properties.code;
            form.hidden = false;
          });
        }
      }).addTo(map);
      L.geoJSON(data.nearby, {
        pointToLayer: function (f, latlng) { return caseMarker(f, latlng, 5); },
        onEachFeature: function (f, layer) { layer.bindPopup(caseLink(f)); }
      }).addTo(map);
      L.geoJSON(data.photos, {
        pointToLayer: function (f, latlng) {
          return L.circleMarker(latlng, { radius: 5, color: "#6a1b9a", weight: 2, fillOpacity: 0.2, className: "photo-point" });
        },
        onEachFeature: function (f, layer) { layer.bindTooltip({ problem: "问题照片", closure: "处置照片", check: "核查照片" }[f.properties.kind] || "照片"); }
      }).addTo(map);
      var point = L.geoJSON(data.case, { pointToLayer: function (f, latlng) { return caseMarker(f, latlng, 8); } }).addTo(map);
      var bounds = grids.getBounds();
      if (bounds.isValid()) map.fitBounds(bounds.extend(point.getBounds()), { padding: [10, 10] });
      else map.setView(point.getBounds().getCenter(), 17);
      element.dataset.ready = "1";
    });
  }

  // -- the city map: what is in view, or one street -------------------------------------
  function cityMap(element) {
    var map = baseMap(element);
    var grids = L.geoJSON(null, {
      style: { color: "#5b6b7c", weight: 1, fillOpacity: 0.04, className: "grid-poly" },
      onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.code); }
    }).addTo(map);
    var cases = L.geoJSON(null, {
      pointToLayer: function (f, latlng) { return caseMarker(f, latlng, 6); },
      onEachFeature: function (f, layer) { layer.bindPopup(caseLink(f)); }
    }).addTo(map);
    var note = document.getElementById("map-note");
    var street = document.getElementById("map-street");
    var dataUrl = element.dataset.dataUrl;

    function load() {
      var b = map.getBounds();
      var url = dataUrl + "?bbox=" + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",");
      if (street.value) url += "&street_id=" + encodeURIComponent(street.value);
      getJSON(url).then(function (data) {
        grids.clearLayers(); cases.clearLayers();
        grids.addData(data.grids); cases.addData(data.cases);
        note.textContent = data.note;
        element.dataset.cases = data.cases.features.length;
        element.dataset.ready = "1";
      });
    }

    function start() {
      var url = dataUrl + (street.value ? "?street_id=" + encodeURIComponent(street.value) : "");
      getJSON(url).then(function (data) {
        if (data.extent) {
          var e = data.extent;
          map.fitBounds([[e[1], e[0]], [e[3], e[2]]]);
        } else {
          map.setView([24.47, 118.08], 13);
        }
        load();
      });
    }
    map.on("moveend", load);
    street.addEventListener("change", start);
    start();
  }

  var one = document.getElementById("case-map");
  if (one) caseMap(one);
  var city = document.getElementById("city-map");
  if (city) cityMap(city);
})();
