"use strict";
// `require("unio/node")`: socket.io's CommonJS export is callable, so is this one,
// `require("unio/node")(httpServer, opts)` being `new Server(httpServer, opts)`;
// every named export (`const { Server } = require("unio/node")`) is there as well.
const node = require("../dist/runtimes/node.cjs");

module.exports = Object.assign((srv, opts) => new node.Server(srv, opts), node);
