/* The admin's map of service areas (ecsportal.servicemap): loads the GeoJSON of the areas in
   view, draws them with translucent fills (so overlaps show as darker colour), and lists the
   overlapping EDN pairs the server found. Without a tile server the map is a plain grid drawn
   here, so the page requests nothing beyond the portal. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("service-map-config").textContent);
  var map = L.map("service-map", { zoomSnap: 0.25 }).setView([20, 0], 2);

  // A grid of tiles with their north-west corner written in: bearings without any tile server.
  var Grid = L.GridLayer.extend({
    createTile: function (coords) {
      var tile = document.createElement("div");
      var size = this.getTileSize();
      var corner = this._map.unproject(coords.scaleBy(size), coords.z);
      tile.style.outline = "1px solid #d8dee4";
      tile.innerHTML = '<span class="map-grid-label">' + corner.lat.toFixed(3) + ", " +
        corner.lng.toFixed(3) + "</span>";
      return tile;
    }
  });
  if (config.tileUrl) {
    L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 19 }).addTo(map);
  } else {
    new Grid({ className: "map-grid" }).addTo(map);
  }

  var shapes = L.featureGroup().addTo(map);
  var status = document.getElementById("map-status");
  var more = document.getElementById("map-more");
  var overlapList = document.getElementById("map-overlaps");
  var noOverlaps = document.getElementById("map-no-overlaps");
  var unplaced = document.getElementById("map-unplaced");

  function colour(name) {
    var hash = 0;
    for (var i = 0; i < name.length; i++) { hash = (hash * 31 + name.charCodeAt(i)) | 0; }
    return "hsl(" + (Math.abs(hash) % 360) + ", 65%, 40%)";
  }

  function changeUrl(layer, pk) {
    return config.changeUrls[layer].replace("/0/", "/" + pk + "/");
  }

  function text(tag, value, className) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (className) { node.className = className; }
    return node;
  }

  function label(p) {
    var what = p.layer === "edn" ? "EDN " + p.id : "EES " + p.id + " (EDN " + p.edn + ")";
    var part = p.key ? p.key + (p.name ? " — " + p.name : "") : p.part;
    return what + ": " + part;
  }

  function draw(data) {
    shapes.clearLayers();
    L.geoJSON(data, {
      style: function (feature) {
        var p = feature.properties, c = colour(p.edn);
        return {
          color: c, fillColor: c, fillOpacity: 0.22, weight: 2,
          dashArray: p.layer === "ees" ? "6 4" : null,
          className: "area area-" + p.layer + " edn-" + p.ednPk
        };
      },
      pointToLayer: function (feature, latlng) {
        return L.circle(latlng, { radius: feature.properties.radius });
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        layer.bindTooltip(label(p), { sticky: true });
        var link = document.createElement("a");
        link.href = changeUrl(p.layer, p.pk);
        link.textContent = label(p);
        layer.bindPopup(link);
      }
    }).eachLayer(function (layer) { shapes.addLayer(layer); });

    overlapList.replaceChildren();
    data.overlaps.forEach(function (o) {
      var item = document.createElement("li");
      item.className = "overlap";
      item.dataset.a = o.a;
      item.dataset.b = o.b;
      var a = text("a", o.a), b = text("a", o.b);
      a.href = changeUrl("edn", o.aPk);
      b.href = changeUrl("edn", o.bPk);
      item.append(a, " and ", b, " ", text("span", "(" + o.why + ")", "why"));
      overlapList.append(item);
    });
    noOverlaps.hidden = data.overlaps.length > 0;

    var list = unplaced.querySelector("ul");
    list.replaceChildren();
    data.unplaced.forEach(function (u) {
      var rest = u.count > u.keys.length ? " and " + (u.count - u.keys.length) + " more" : "";
      list.append(text("li", u.layer.toUpperCase() + " " + u.id + ": " + u.keys.join(", ") + rest));
    });
    unplaced.hidden = data.unplaced.length === 0;

    status.textContent = data.areas.edns + " EDN and " + data.areas.eess +
      " EES areas in view, " + data.features.length + " shapes.";
    more.hidden = !data.truncated;
    more.textContent = data.truncated
      ? "Showing the first " + data.limit + " areas in view: zoom in to see the rest." : "";
  }

  var latest = 0, fitted = false;
  function load(whole) {
    var request = ++latest;
    var params = new URLSearchParams({ limit: String(config.limit) });
    if (!whole) {
      var b = map.getBounds();
      params.set("bbox", [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
        .map(function (v) { return v.toFixed(6); }).join(","));
    }
    fetch(config.dataUrl + "?" + params, { credentials: "same-origin",
                                           headers: { Accept: "application/geo+json" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) {
        if (request !== latest) { return; }  // a later viewport's answer is on its way
        draw(data);
        if (!fitted) {
          fitted = true;
          map.invalidateSize();  // the layout may have settled since the map was made
          if (data.bbox) {
            map.fitBounds([[data.bbox[1], data.bbox[0]], [data.bbox[3], data.bbox[2]]],
                          { padding: [20, 20], maxZoom: 16 });
          }
        }
        document.getElementById("service-map").dataset.loaded = String(request);
      })
      .catch(function (error) { status.textContent = "Could not load the areas: " + error.message; });
  }
  // First the whole world (to find where the areas are), then whatever the operator looks at.
  map.on("moveend", function () { if (fitted) { load(false); } });
  load(true);
})();
