// The trade page live: the order book, recent trades and the chart's last candle from the
// public streams at /ws (docs/streams.md), decoded by pushdata.js.
//
// The book follows MEXC's local-book procedure: subscribe to the depth diffs and buffer them,
// fetch the snapshot (GET /api/v3/depth, lastUpdateId), drop diffs that end before it, apply
// the first diff only if fromVersion <= lastUpdateId + 1 and each later one only if
// fromVersion == previous toVersion + 1; on a gap fetch the snapshot again. Sizes are absolute
// and "0" removes a level, so prices and sizes stay the server's decimal strings (compared as
// decimals, never turned into floats).
//
// Without JavaScript the page shows the book as rendered, with a refresh link. With it, htmx
// polls /trade/SYM/book until the book is live; from then on every poll is cancelled
// (htmx:beforeRequest), and it resumes when the socket closes. A closed socket is reopened
// after 1, 2, 4 ... 30 s, at most MAX_RETRIES times in a row. A poll that failed puts the
// server's message inside #book in place of its tables (bourse.web.errors); the next poll
// replaces it, and so does the live book, which draws its tables again (no poll comes then).
//
// A logged-in user's own orders and fills (the page's #mine section) follow the private
// streams: the page asks for a listenKey (POST /trade/SYM/stream-key, with the form's CSRF
// token), opens /ws?listenKey= and, on each order or fill of this pair, and on every
// (re)connect, fetches the section as the server renders it (GET /trade/SYM/mine).
(function () {
  "use strict";
  var LEVELS = 10;          // levels shown per side (trade.py's BOOK_LEVELS)
  var TRADES = 20;          // recent trades shown (trade.py's TRADES_SHOWN)
  var PING_MS = 20000;      // the server closes a connection after 60 s without traffic
  var MAX_RETRIES = 8;
  var MAX_BACKOFF_MS = 30000;
  var SNAPSHOT_LIMIT = 1000;
  var MAX_BUFFERED = 600;   // depth pushes kept while a snapshot is fetched (a minute of 100 ms)

  // --- decimals as strings ------------------------------------------------------------------
  function cmpDec(a, b) {  // non-negative decimal strings
    var pa = a.split("."), pb = b.split(".");
    var ia = pa[0].replace(/^0+/, ""), ib = pb[0].replace(/^0+/, "");
    if (ia.length !== ib.length) return ia.length - ib.length;
    if (ia !== ib) return ia < ib ? -1 : 1;
    var fa = pa[1] || "", fb = pb[1] || "";
    while (fa.length < fb.length) fa += "0";
    while (fb.length < fa.length) fb += "0";
    return fa === fb ? 0 : fa < fb ? -1 : 1;
  }
  function isZero(q) { return !/[1-9]/.test(q); }

  function utcTime(ms) { return new Date(ms).toISOString().slice(11, 19); }

  function row(cells) {  // cells: [text, className]; textContent only, never markup
    var tr = document.createElement("tr");
    cells.forEach(function (c) {
      var td = document.createElement("td");
      td.textContent = c[0];
      if (c[1]) td.className = c[1];
      tr.appendChild(td);
    });
    return tr;
  }
  function emptyRow(text, span) {
    var tr = document.createElement("tr"), td = document.createElement("td");
    td.colSpan = span; td.className = "muted"; td.textContent = text;
    tr.appendChild(td);
    return tr;
  }

  // #book's tables with no rows: what the live book draws into
  function blankBook(book) {
    var blank = document.createDocumentFragment();
    if (!book) return blank;
    Array.from(book.childNodes).forEach(function (n) { blank.appendChild(n.cloneNode(true)); });
    blank.querySelectorAll("tbody").forEach(function (t) { t.replaceChildren(); });
    return blank;
  }

  function LiveBook(root, symbol) {
    this.root = root;             // the element holding #book (which htmx may swap)
    this.symbol = symbol;
    this.chart = document.getElementById("chart");
    this.status = document.getElementById("book-status");
    this.channels = [
      "spot@public.aggre.depth.v3.api.pb@100ms@" + symbol,
      "spot@public.aggre.deals.v3.api.pb@100ms@" + symbol,
      "spot@public.kline.v3.api.pb@" + symbol + "@Min1",
    ];
    this.tables = blankBook(root.querySelector("#book"));
    this.live = false;
    this.generation = 0;       // bumped by every snapshot and every closed socket
    this.socket = null;
    this.resetBook();
  }

  LiveBook.prototype.resetBook = function () {
    this.generation = (this.generation || 0) + 1;
    this.bids = new Map();
    this.asks = new Map();
    this.version = null;       // lastUpdateId of the snapshot, then the last applied toVersion
    this.started = false;      // a diff was applied after the snapshot
    this.buffer = [];
    this.dealBuffer = [];      // trades pushed before the snapshot's REST trades came
    this.fetching = false;
    this.tradeIds = new Set();
  };

  LiveBook.prototype.setLive = function (live) {
    if (this.live === live) return;
    this.live = live;
    this.root.setAttribute("data-live", live ? "1" : "0");
    if (this.status) {
      this.status.textContent = live ? "Live" : "Reconnecting: the book refreshes every 2 s";
    }
    document.dispatchEvent(new CustomEvent("bourse:live", { detail: { live: live } }));
  };

  // --- a reconnecting /ws connection ------------------------------------------------------
  // Subscribes to `channels` once open; on.ready() when the subscription is acknowledged,
  // on.frame(decoded) for each push, on.down() when it closes. `query()` gives the URL's query
  // string (a Promise or a string), asked anew for every attempt. A closed socket is reopened
  // after 1, 2, 4 ... 30 s, at most MAX_RETRIES times in a row; up() resets the count.
  function Socket(channels, query, on) {
    this.channels = channels;
    this.query = query;
    this.on = on;
    this.retries = 0;
    this.ws = null;
    this.ping = null;
  }

  Socket.prototype.open = function () {
    var self = this;
    Promise.resolve(this.query()).then(function (q) {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      self.attach(new WebSocket(scheme + location.host + "/ws" + q));
    }).catch(function () { self.retry(); });
  };

  Socket.prototype.attach = function (ws) {
    var self = this;
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = function () {
      ws.send(JSON.stringify({ method: "SUBSCRIPTION", params: self.channels }));
      self.ping = setInterval(function () {
        if (ws.readyState === WebSocket.OPEN) ws.send('{"method":"PING"}');
      }, PING_MS);
    };
    ws.onmessage = function (ev) {
      if (ws !== self.ws) return;
      if (typeof ev.data === "string") {
        var reply = null;
        try { reply = JSON.parse(ev.data); } catch (e) { /* "Invalid listen key": it closes */ }
        if (reply && reply.msg === self.channels.join(",")) self.on.ready();
        return;
      }
      var frame;
      try { frame = BoursePush.decode(new Uint8Array(ev.data)); } catch (e) { return; }
      self.on.frame(frame);
    };
    ws.onclose = function () {
      if (ws !== self.ws) return;
      clearInterval(self.ping);
      self.ws = null;
      self.on.down();
      self.retry();
    };
  };

  Socket.prototype.retry = function () {
    var self = this;
    if (this.retries >= MAX_RETRIES) { this.on.gone(); return; }
    var wait = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, this.retries));
    this.retries += 1;
    setTimeout(function () { self.open(); }, wait);
  };

  Socket.prototype.up = function () { this.retries = 0; };

  // close the current socket (it reopens after the back-off)
  Socket.prototype.restart = function () { if (this.ws) this.ws.close(); };

  // --- the public streams -------------------------------------------------------------------
  LiveBook.prototype.connect = function () {
    var self = this;
    this.socket = new Socket(this.channels, function () { return ""; }, {
      ready: function () { self.resetBook(); self.snapshot(); },
      frame: function (f) {
        if (f.publicAggreDepths) self.depth(f.publicAggreDepths);
        else if (f.publicAggreDeals) self.deals(f.publicAggreDeals.deals);
        else if (f.publicSpotKline) self.kline(f.publicSpotKline);
      },
      down: function () { self.resetBook(); self.setLive(false); },
      gone: function () {
        if (self.status) self.status.textContent = "The book refreshes every 2 s";
      },
    });
    this.socket.open();
  };

  // --- the book -----------------------------------------------------------------------------
  LiveBook.prototype.snapshot = function () {
    if (this.fetching) return;
    var self = this, generation = ++this.generation;
    this.fetching = true;
    this.version = null;
    this.started = false;
    var depth = "/api/v3/depth?limit=" + SNAPSHOT_LIMIT + "&symbol=" + encodeURIComponent(this.symbol);
    var trades = "/api/v3/trades?limit=" + TRADES + "&symbol=" + encodeURIComponent(this.symbol);
    Promise.all([depth, trades].map(function (u) {
      return fetch(u, { credentials: "omit" }).then(function (r) {
        if (!r.ok) throw new Error(u + ": HTTP " + r.status);
        return r.json();
      });
    })).then(function (got) {
      if (generation !== self.generation) return;  // the socket closed meanwhile
      var snap = got[0];
      self.fetching = false;
      self.bids = new Map(snap.bids.map(function (l) { return [l[0], l[1]]; }));
      self.asks = new Map(snap.asks.map(function (l) { return [l[0], l[1]]; }));
      self.version = snap.lastUpdateId;
      self.tradeIds = new Set();
      self.showTrades(got[1].map(function (t) {
        return { tradeId: t.id, price: t.price, quantity: t.qty, time: t.time,
                 tradeType: t.isBuyerMaker ? 2 : 1 };
      }), true);
      self.showTrades(self.dealBuffer, false);
      self.dealBuffer = [];
      var pending = self.buffer;
      self.buffer = [];
      for (var i = 0; i < pending.length; i++) {
        self.apply(pending[i]);
        if (self.version === null) {  // a gap in the buffer: apply() fetched again
          self.buffer = self.buffer.concat(pending.slice(i + 1));
          return;
        }
      }
      self.render();
      self.socket.up();
      self.setLive(true);
    }).catch(function () {
      self.fetching = false;
      if (generation === self.generation) self.socket.restart();  // reconnect, with back-off
    });
  };

  LiveBook.prototype.depth = function (d) {
    if (this.version === null) {
      this.buffer.push(d);  // a snapshot is on its way
      if (this.buffer.length > MAX_BUFFERED) this.buffer.shift();
      return;
    }
    this.apply(d);
    if (this.version !== null) this.render();
  };

  LiveBook.prototype.apply = function (d) {
    var from = Number(d.fromVersion), to = Number(d.toVersion);
    if (to < this.version) return;  // ends before the snapshot
    var inOrder = this.started ? from === this.version + 1 : from <= this.version + 1;
    if (!inOrder) { this.resync(d); return; }
    [[this.bids, d.bids], [this.asks, d.asks]].forEach(function (side) {
      side[1].forEach(function (l) {
        if (isZero(l.quantity)) side[0].delete(l.price);
        else side[0].set(l.price, l.quantity);
      });
    });
    this.version = to;
    this.started = true;
  };

  LiveBook.prototype.resync = function (d) {
    this.version = null;
    this.buffer = [d];
    this.setLive(false);
    this.snapshot();
  };

  // #book, holding its tables again if a failed poll left the server's message there instead
  LiveBook.prototype.book = function () {
    var book = this.root.querySelector("#book");
    if (book && !book.querySelector("tbody.asks")) {
      book.replaceChildren(this.tables.cloneNode(true));
    }
    return book;
  };

  LiveBook.prototype.render = function () {
    var book = this.book();
    if (!book) return;
    var asks = Array.from(this.asks.keys()).sort(cmpDec).slice(0, LEVELS).reverse();
    var bids = Array.from(this.bids.keys()).sort(cmpDec).reverse().slice(0, LEVELS);
    var self = this;
    function fill(tbody, prices, side, cls, none) {
      if (!tbody) return;
      var rows = prices.map(function (p) {
        return row([[p, "num " + cls], [side.get(p), "num"]]);
      });
      tbody.replaceChildren.apply(tbody, rows.length ? rows : [emptyRow(none, 2)]);
    }
    fill(book.querySelector("tbody.asks"), asks, self.asks, "down", "No sellers");
    fill(book.querySelector("tbody.bids"), bids, self.bids, "up", "No buyers");
  };

  // --- trades and the chart -----------------------------------------------------------------
  LiveBook.prototype.deals = function (deals) {
    if (this.version === null) this.dealBuffer = this.dealBuffer.concat(deals).slice(-TRADES);
    else this.showTrades(deals, false);
  };

  // trades: newest first when `replace` (REST), oldest first otherwise (a push)
  LiveBook.prototype.showTrades = function (trades, replace) {
    var book = this.book();
    var tbody = book && book.querySelector("#trades tbody");
    if (!tbody) return;
    if (replace) tbody.replaceChildren();
    else if (tbody.querySelector("td.muted")) tbody.replaceChildren();
    var self = this, list = replace ? trades.slice().reverse() : trades;
    list.forEach(function (t) {
      if (t.tradeId && self.tradeIds.has(t.tradeId)) return;
      if (t.tradeId) self.tradeIds.add(t.tradeId);
      var tr = row([[t.price, "num " + (t.tradeType === 1 ? "up" : "down")],
                    [t.quantity, "num"], [utcTime(t.time), ""]]);
      tr.setAttribute("data-trade", t.tradeId || "");
      tbody.insertBefore(tr, tbody.firstChild);
    });
    while (tbody.children.length > TRADES) tbody.removeChild(tbody.lastChild);
    if (!tbody.children.length) tbody.appendChild(emptyRow("No trades yet", 3));
  };

  LiveBook.prototype.kline = function (k) {
    if (!this.chart) return;
    this.chart.dispatchEvent(new CustomEvent("bourse:kline", { detail: {
      bar: { time: k.windowStart, open: +k.openingPrice, high: +k.highestPrice,
             low: +k.lowestPrice, close: +k.closingPrice },
      close: k.closingPrice,
    } }));
  };

  // --- the user's own orders and fills -----------------------------------------------------
  function Mine(section, symbol, csrf) {
    this.section = section;
    this.path = "/trade/" + encodeURIComponent(symbol);
    this.symbol = symbol;
    this.csrf = csrf;
    this.loading = false;
    this.again = false;
  }

  Mine.prototype.connect = function () {
    var self = this;
    function key() {
      return fetch(self.path + "/stream-key", {
        method: "POST", credentials: "same-origin",
        body: new URLSearchParams({ csrf_token: self.csrf }),
      }).then(function (r) {
        if (!r.ok) throw new Error("stream-key: HTTP " + r.status);
        return r.json();
      }).then(function (j) { return "?listenKey=" + encodeURIComponent(j.listenKey); });
    }
    var channels = ["spot@private.orders.v3.api.pb", "spot@private.deals.v3.api.pb"];
    this.socket = new Socket(channels, key, {
      ready: function () {
        self.socket.up();
        self.section.setAttribute("data-live", "1");
        self.refresh();  // what changed before the subscription
      },
      frame: function (f) { if (f.symbol === self.symbol) self.refresh(); },
      down: function () { self.section.setAttribute("data-live", "0"); },
      gone: function () {},
    });
    this.socket.open();
  };

  // the section as the server renders it; one fetch at a time, one more if pushes came meanwhile
  Mine.prototype.refresh = function () {
    if (this.loading) { this.again = true; return; }
    this.loading = true;
    var self = this;
    fetch(this.path + "/mine", { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("mine: HTTP " + r.status);
      return r.text();
    }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("mine");
      if (fresh) self.section.replaceChildren.apply(self.section, Array.from(fresh.childNodes));
    }).catch(function () { /* the next push or reconnect fetches again */ }).then(function () {
      self.loading = false;
      if (self.again) { self.again = false; self.refresh(); }
    });
  };

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("[data-live-book]");
    if (!root || typeof WebSocket === "undefined" || typeof BoursePush === "undefined") return;
    var live = new LiveBook(root, root.getAttribute("data-live-book"));
    // htmx polls the book only while the socket is not live
    document.body.addEventListener("htmx:beforeRequest", function (ev) {
      if (live.live && ev.detail && ev.detail.elt && ev.detail.elt.id === "book") {
        ev.preventDefault();
      }
    });
    // a book htmx swapped in while the socket was down is redrawn from the live copy
    document.body.addEventListener("htmx:afterSwap", function (ev) {
      if (live.live && ev.detail && ev.detail.elt && ev.detail.elt.id === "book") live.render();
    });
    live.connect();
    var mine = document.getElementById("mine");
    var csrf = document.querySelector("#order-form input[name=csrf_token]");
    if (mine && csrf) new Mine(mine, live.symbol, csrf.value).connect();
  });
})();
