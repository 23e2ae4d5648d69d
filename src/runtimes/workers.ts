// Workers shim: Durable Objects (issue 6).
export {};
