// A decoder for the few protobuf messages the trade page reads from /ws: MEXC's
// PushDataV3ApiWrapper (src/bourse/api/ws/proto/) with a publicAggreDepths (313),
// publicAggreDeals (314) or publicSpotKline (308) body. Any other field is skipped by its wire
// type, so a frame with another body decodes to its wrapper fields alone.
//
// Why by hand and not protobufjs: these messages are strings and integers in three small
// schemas, which a reader of varints and length-delimited fields covers in under 100 lines
// (tests/web/test_trade_live.py checks it against frames our Python protobuf classes encode).
// protobufjs's light build would add about 70 kB of vendored code and still need the .proto
// schema shipped to the browser as JSON; its minimal build needs generated code from its CLI.
//
// BoursePush.decode(Uint8Array) -> {channel, symbol, symbolId, createTime, sendTime, and one of
// publicAggreDepths | publicAggreDeals | publicSpotKline}. Proto3 defaults are filled in ("" for
// strings, 0 for integers, [] for repeated fields); int64 values come as Numbers (times and
// versions stay far below 2^53).
(function (root) {
  "use strict";
  var text = new TextDecoder("utf-8");
  var S = "string", I = "int";

  // field number -> [name, kind (S, I, or a nested schema), repeated]
  var LEVEL = { 1: ["price", S], 2: ["quantity", S] };
  var DEPTHS = {
    1: ["asks", LEVEL, true], 2: ["bids", LEVEL, true], 3: ["eventType", S],
    4: ["fromVersion", S], 5: ["toVersion", S], 6: ["lastOrderCreateTime", I],
  };
  var DEAL = {
    1: ["price", S], 2: ["quantity", S], 3: ["tradeType", I], 4: ["time", I], 5: ["tradeId", S],
  };
  var DEALS = { 1: ["deals", DEAL, true], 2: ["eventType", S] };
  var KLINE = {
    1: ["interval", S], 2: ["windowStart", I], 3: ["openingPrice", S], 4: ["closingPrice", S],
    5: ["highestPrice", S], 6: ["lowestPrice", S], 7: ["volume", S], 8: ["amount", S],
    9: ["windowEnd", I],
  };
  var WRAPPER = {
    1: ["channel", S], 3: ["symbol", S], 4: ["symbolId", S], 5: ["createTime", I],
    6: ["sendTime", I], 308: ["publicSpotKline", KLINE], 313: ["publicAggreDepths", DEPTHS],
    314: ["publicAggreDeals", DEALS],
  };
  var BODIES = [308, 313, 314];

  function Reader(bytes) { this.b = bytes; this.pos = 0; }

  // a varint as a Number: exact below 2^53 (no field read here is ever negative)
  Reader.prototype.varint = function () {
    var value = 0, scale = 1, byte;
    for (var i = 0; i < 10; i++) {
      if (this.pos >= this.b.length) throw new Error("truncated varint");
      byte = this.b[this.pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw new Error("varint longer than 10 bytes");
  };

  Reader.prototype.bytes = function () {
    var n = this.varint(), start = this.pos;
    if (n < 0 || start + n > this.b.length) throw new Error("truncated field");
    this.pos += n;
    return this.b.subarray(start, start + n);
  };

  Reader.prototype.skip = function (wire) {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error("unsupported wire type " + wire);
    if (this.pos > this.b.length) throw new Error("truncated field");
  };

  function defaults(schema) {
    var out = {};
    Object.keys(schema).forEach(function (n) {
      var f = schema[n];
      if (f[2]) out[f[0]] = [];
      else if (f[1] === S) out[f[0]] = "";
      else if (f[1] === I) out[f[0]] = 0;
    });
    return out;
  }

  function message(bytes, schema) {
    var r = new Reader(bytes), out = defaults(schema);
    while (r.pos < bytes.length) {
      var key = r.varint(), number = Math.floor(key / 8), wire = key & 7;
      var f = schema[number];
      if (f === undefined) { r.skip(wire); continue; }
      var kind = f[1], value;
      if (kind === I && wire === 0) value = r.varint();
      else if (kind === S && wire === 2) value = text.decode(r.bytes());
      else if (typeof kind === "object" && wire === 2) value = message(r.bytes(), kind);
      else throw new Error("field " + number + " has wire type " + wire);
      if (f[2]) out[f[0]].push(value);
      else out[f[0]] = value;
    }
    return out;
  }

  function decode(bytes) {
    var out = message(bytes, WRAPPER);
    BODIES.forEach(function (n) {  // a oneof: only the body sent is there
      var name = WRAPPER[n][0];
      if (out[name] === undefined) delete out[name];
    });
    return out;
  }

  root.BoursePush = { decode: decode };
})(this);
